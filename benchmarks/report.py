# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The table of medians and ratios, the targets, and the profile, as text and as Markdown."""

import os
import statistics
from dataclasses import dataclass

import bundles
from groups import CONCURRENCIES
from groups import DELIVERY_SIZE
from groups import DIGEST_COUNTS
from groups import FLEET_FORKS
from groups import FLEET_SIZES
from groups import ON_BIG_LAYER_DIR
from groups import RELAY_MB
from groups import big_layer_size
from groups import rate_text
from groups import relay_size

# The default concurrency of ecr_layer_url (and ecr_image_layers), the reference of the concurrency rows.
DEFAULT_CONCURRENCY = 16

LAYER_CONTENDERS = (
    ("ours", "(1) ecr_layer_url, one task with digests"),
    ("loop", "(2) loop: over ecr_layer_url, one digest each"),
    ("aws_cli", "(3) aws ecr get-download-url-for-layer, N runs"),
    ("boto3_floor", "(4) floor: one boto3 client, N calls at once"),
)
PEER_CONTENDERS = (
    ("ours", "(1) ecr_layer_url, digests of 1 (1 call)"),
    ("sts_assume_role", "amazon.aws.sts_assume_role (1 call)"),
    ("aws_caller_info", "amazon.aws.aws_caller_info (2 calls)"),
)
DELIVERY_CONTENDERS = (
    ("image_fetch", "image_fetch role (ansible-playbook)"),
    ("by_hand", "shell: aws CLI, curl, sha256sum per blob"),
    ("hand_written", "playbook: ecr_layer_url, loop of get_url"),
    ("curl_floor", "floor: curl, 4 at once, no verification"),
)
RELAY_CONTENDERS = (
    ("relay", "image_fetch_via=relay: one host pulls from S3"),
    ("direct", "image_fetch_via=direct: every host pulls"),
    ("copy", "controller downloads once, then copy"),
)
BIG_LAYER_CONTENDERS = (
    ("image_fetch", "image_fetch role (ansible-playbook)"),
    ("no_ranges", "image_fetch role, ranges turned off"),
    ("curl_floor", "floor: curl, 4 at once, no verification"),
    ("image_fetch_dir", "image_fetch role, writing under BENCH_BIG_LAYER_DIR"),
    ("curl_floor_dir", "floor: curl, writing under BENCH_BIG_LAYER_DIR"),
)
COLUMNS = ("contender", "size", "wall s", "task s", "API calls", "ratio wall", "ratio task")


@dataclass
class Row:
    label: str
    size: str = ""
    wall: float = None
    task: float = None
    calls: float = None
    ratio_wall: float = None
    ratio_task: float = None
    section: bool = False


def _ratio(value, reference):
    return value / reference if value is not None and reference else None


def measured_row(results, key, label, size_label, reference_key):
    """A row for ``key`` = (group, contender, size), with ratios to ``reference_key``."""
    wall, task = results.median(*key), results.median(*key, field="task")
    return Row(
        label=label,
        size=size_label,
        wall=wall,
        task=task,
        calls=results.median(*key, field="api_calls"),
        ratio_wall=_ratio(wall, results.median(*reference_key)),
        ratio_task=_ratio(task, results.median(*reference_key, field="task")),
    )


def table_rows(results, latency_ms, s3_rate_mb):
    rows = [
        Row(
            f"Rows 1-4: layer URLs for N digests, {latency_ms} ms per API call; ratio = row / (1) at the same N",
            section=True,
        )
    ]
    for count in DIGEST_COUNTS:
        for name, label in LAYER_CONTENDERS:
            rows.append(
                measured_row(results, ("layer_urls", name, count), label, f"N={count}", ("layer_urls", "ours", count))
            )
    rows.append(
        Row(f"(1) at N=50 by concurrency; ratio = row / concurrency {DEFAULT_CONCURRENCY} (the default)", section=True)
    )
    for value in CONCURRENCIES:
        rows.append(
            measured_row(
                results,
                ("concurrency", value, 50),
                f"(1) ecr_layer_url, concurrency {value}",
                "N=50",
                ("concurrency", DEFAULT_CONCURRENCY, 50),
            )
        )
    rows.append(
        Row("(1) at N=1 against peer modules, same playbook shape and endpoint; ratio = row / (1)", section=True)
    )
    for name, label in PEER_CONTENDERS:
        rows.append(measured_row(results, ("peers", name, 1), label, "N=1", ("peers", "ours", 1)))
    rows.append(
        Row(
            "Row 5: image_fetch to H local hosts (10 forks at most), 10 x 64 KiB layers; ratio = row / H=1",
            section=True,
        )
    )
    for hosts in FLEET_SIZES:
        key = ("fleet", "image_fetch", hosts)
        rows.append(
            measured_row(results, key, f"image_fetch role{_fleet_cpu(results, key)}", f"H={hosts}", key[:2] + (1,))
        )
    rows.append(
        Row(
            f"Row 6: 10 layers, about 500 MB, to one host; blob downloads {rate_text(s3_rate_mb)}; ratio = row / role",
            section=True,
        )
    )
    for name, label in DELIVERY_CONTENDERS:
        rows.append(
            measured_row(
                results,
                ("delivery", name, DELIVERY_SIZE),
                label,
                DELIVERY_SIZE,
                ("delivery", "image_fetch", DELIVERY_SIZE),
            )
        )
    rows.append(
        Row(
            f"Row 7: one layer of {big_layer_size()} and 9 of 1 MB, to one host; blob downloads "
            f"{rate_text(s3_rate_mb)}; ratio = row / role",
            section=True,
        )
    )
    size = big_layer_size()
    for name, label in BIG_LAYER_CONTENDERS:
        if results.get("big_layer", name, size) or name not in ON_BIG_LAYER_DIR:
            reference = ("big_layer", "image_fetch_dir" if name in ON_BIG_LAYER_DIR else "image_fetch", size)
            rows.append(measured_row(results, ("big_layer", name, size), label, size, reference))
    rows.append(Row(bundles.section_label(results), section=True))
    for name, label in bundles.CONTENDERS:
        key = ("bundle_delta", name, bundles.SIZE)
        rows.append(measured_row(results, key, label, bundles.SIZE, ("bundle_delta", "full", bundles.SIZE)))
    rows += relay_rows(results, s3_rate_mb)
    kept = [row for row in rows if row.section or row.wall is not None]
    return [
        row
        for index, row in enumerate(kept)
        if not row.section or (index + 1 < len(kept) and not kept[index + 1].section)
    ]


def relay_rows(results, s3_rate_mb):
    """Row 11: the label says the MB pulled from S3 (median); ratio = row / the download-once-then-copy pattern."""
    size = relay_size()
    rows = [
        Row(
            f"Row 11: a {RELAY_MB} MB image (4 layers) to {size[2:]} local hosts; blob downloads "
            f"{rate_text(s3_rate_mb)}; ratio = row / copy",
            section=True,
        )
    ]
    for name, label in RELAY_CONTENDERS:
        pulled = results.median("relay", name, size, field="s3_bytes")
        text = f"{label} ({pulled / 1e6:.0f} MB from S3)" if pulled is not None else label
        rows.append(measured_row(results, ("relay", name, size), text, size, ("relay", "copy", size)))
    return rows


def _number(value, digits=2, suffix=""):
    return "-" if value is None else f"{value:.{digits}f}{suffix}"


def _cells(row):
    return [
        row.label,
        row.size,
        _number(row.wall),
        _number(row.task),
        _number(row.calls, 0),
        _number(row.ratio_wall, 2, "x"),
        _number(row.ratio_task, 2, "x"),
    ]


def text_table(rows):
    widths = [
        max([len(COLUMNS[index])] + [len(_cells(row)[index]) for row in rows if not row.section])
        for index in range(len(COLUMNS))
    ]
    lines = ["  ".join(name.ljust(width) for name, width in zip(COLUMNS, widths, strict=True))]
    for row in rows:
        if row.section:
            lines.append("")
            lines.append(row.label)
        else:
            cells = _cells(row)
            lines.append(
                "  ".join(
                    cell.ljust(width) if index < 2 else cell.rjust(width)
                    for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
                )
            )
    return "\n".join(lines)


def markdown_table(rows):
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(COLUMNS) - 2)) + "|"]
    for row in rows:
        if row.section:
            lines.append(f"| **{row.label}** |" + " |" * (len(COLUMNS) - 1))
        else:
            lines.append("| " + " | ".join(_cells(row)) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------- targets


@dataclass
class Target:
    """``measured`` compared with ``limit`` by ``op`` ("<=" or ">="); None when not measured."""

    name: str
    text: str
    op: str
    limit: float
    measured: float = None
    basis: str = ""
    unit: str = "x"

    @property
    def ok(self):
        if self.measured is None:
            return None
        return self.measured <= self.limit if self.op == "<=" else self.measured >= self.limit

    @property
    def verdict(self):
        return {None: "not measured", True: "PASS", False: "MISS"}[self.ok]


def least_favourable(target, candidates):
    """Judge ``target`` on the measure (wall or task time) least favourable to airgap.ecr."""
    candidates = [(basis, value) for basis, value in candidates if value is not None]
    if not candidates:
        return target
    pick = max if target.op == "<=" else min
    target.basis, target.measured = pick(candidates, key=lambda item: item[1])
    return target


def _ratios(results, numerator, denominator, fields=("wall", "task")):
    return [
        (field, _ratio(results.median(*numerator, field=field), results.median(*denominator, field=field)))
        for field in fields
    ]


def targets(results):
    ours = ("layer_urls", "ours")
    role, by_hand, hand_written, floor = (
        ("delivery", name, DELIVERY_SIZE) for name in ("image_fetch", "by_hand", "hand_written", "curl_floor")
    )
    wall = ("wall",)
    peer = ("peers", "ours", 1), ("peers", "sts_assume_role", 1)
    big_role = ("big_layer", "image_fetch", big_layer_size())
    big_dir_role = ("big_layer", "image_fetch_dir", big_layer_size())
    return [
        least_favourable(
            Target("T1", "(1) at N=50 / (1) at N=1", "<=", 1.5), _ratios(results, ours + (50,), ours + (1,))
        ),
        least_favourable(
            Target("T2", "(3) AWS CLI / (1), N=50", ">=", 10),
            _ratios(results, ("layer_urls", "aws_cli", 50), ours + (50,), wall),
        ),
        least_favourable(
            Target("T3", "(2) loop / (1), N=50", ">=", 10), _ratios(results, ("layer_urls", "loop", 50), ours + (50,))
        ),
        least_favourable(
            Target("T4", "(1) at N=1 / sts_assume_role (one-call peer)", "<=", 1.1), _ratios(results, *peer)
        ),
        fleet_target(results),
        least_favourable(Target("T6a", "shell script / role, 500 MB", ">=", 2), _ratios(results, by_hand, role, wall)),
        least_favourable(
            Target("T6b", "hand-written playbook / role, 500 MB", ">=", 2), _ratios(results, hand_written, role, wall)
        ),
        least_favourable(Target("T6c", "role / curl floor, 500 MB", "<=", 1.5), _ratios(results, role, floor, wall)),
        least_favourable(
            Target("T7", f"role / curl floor, one layer of {big_layer_size()}", "<=", 0.5),
            _ratios(results, big_role, ("big_layer", "curl_floor", big_layer_size()), wall),
        ),
        least_favourable(
            Target("T7d", "T7 with both writing under BENCH_BIG_LAYER_DIR (not the disk)", "<=", 0.5),
            _ratios(results, big_dir_role, ("big_layer", "curl_floor_dir", big_layer_size()), wall),
        ),
        fixed_cost_target(results),
        per_host_target(results),
        delta_target(results),
    ]


def delta_target(results):
    """T10: a delta bundle after one changed layer is the size of that layer."""
    target = Target(
        "T10", "delta bundle bytes / changed layer bytes", "<=", 1.05, measured=bundles.delta_ratio(results)
    )
    target.basis = "every file of the bundle directory" if target.measured is not None else ""
    return target


def fixed_cost_target(results):
    """T8: the role's wall time minus its download module's work, in seconds, the most of the role's rows."""
    target = Target("T8", "role's fixed cost: wall - download module's work", "<=", 1.5, unit=" s")
    keys = {
        "row 5 H=1": ("fleet", "image_fetch", 1),
        "row 6": ("delivery", "image_fetch", DELIVERY_SIZE),
        "row 7": ("big_layer", "image_fetch", big_layer_size()),
    }
    candidates = []
    for basis, key in keys.items():
        costs = [sample["wall"] - sample["download"] for sample in results.get(*key) if sample.get("download")]
        candidates.append((basis, statistics.median(costs) if costs else None))
    return least_favourable(target, candidates)


def per_host_target(results):
    """T9: seconds per host added beyond FLEET_FORKS hosts, from H=10 to the largest H measured."""
    target = Target("T9", f"per added host at {FLEET_FORKS} forks", "<=", 0.3, unit=" s")
    walls = {hosts: results.median("fleet", "image_fetch", hosts) for hosts in FLEET_SIZES}
    larger = [hosts for hosts, wall in walls.items() if wall is not None and hosts > FLEET_FORKS]
    if walls.get(FLEET_FORKS) is not None and larger:
        top = max(larger)
        target.measured = (walls[top] - walls[FLEET_FORKS]) / (top - FLEET_FORKS)
        target.basis = f"(wall H={top} - wall H={FLEET_FORKS}) / {top - FLEET_FORKS}"
        cpus = {hosts: results.median("fleet", "image_fetch", hosts, field="cpu") for hosts in (FLEET_FORKS, top)}
        if None not in cpus.values():
            per_host = (cpus[top] - cpus[FLEET_FORKS]) / (top - FLEET_FORKS)
            spread = per_host / (os.cpu_count() or 1)
            target.basis += f"; CPU {per_host:.2f} s per added host{_cpu_split(results, top, per_host)}, "
            target.basis += f"{spread:.2f} s spread over the CPUs"
    return target


def _fleet_cpu(results, key):
    """`` (CPU s: controller X, module runs Y)`` of a row 5 run, medians; "" when not measured."""
    cpu, module = (results.median(*key, field=field) for field in ("cpu", "module_cpu"))
    if cpu is None or module is None:
        return ""
    return f" (CPU s: controller {cpu - module:.1f}, module runs {module:.1f})"


def _cpu_split(results, top, per_host):
    """`` (controller X, module runs Y)``: the CPU per added host of the controller and of the module runs on the
    hosts (scripts/module_cpu.sh), which a real fleet spends on each host, not on the controller."""
    modules = [results.median("fleet", "image_fetch", hosts, field="module_cpu") for hosts in (FLEET_FORKS, top)]
    if None in modules:
        return ""
    module = (modules[1] - modules[0]) / (top - FLEET_FORKS)
    return f" (controller {per_host - module:.2f}, module runs on the hosts {module:.2f})"


def fleet_target(results):
    """ECR calls per play must not grow with H: the most calls at any H over the calls at H=1."""
    target = Target("T5", "ECR calls per play, most at any H / at H=1", "<=", 1.0)
    calls = {hosts: results.median("fleet", "image_fetch", hosts, field="ecr_calls") for hosts in FLEET_SIZES}
    if calls.get(1):
        known = [value for value in calls.values() if value is not None]
        target.measured = max(known) / calls[1]
        target.basis = ", ".join(
            f"H={hosts}: {_number(value, 0)}" for hosts, value in calls.items() if value is not None
        )
    return target


def targets_text(found):
    lines = []
    for target in found:
        measured = "-" if target.measured is None else f"{target.measured:.3f}{target.unit}"
        lines.append(
            f"{target.name:<4} {target.text:<48} {measured:>8} (need {target.op} {target.limit:g}{target.unit}, "
            f"{target.basis or 'n/a'})  {target.verdict}"
        )
    return "\n".join(lines)


def targets_markdown(found):
    lines = ["| target | measured | required | judged on | result |", "|---|---:|---:|---|---|"]
    for target in found:
        measured = "-" if target.measured is None else f"{target.measured:.3f}{target.unit}"
        lines.append(
            f"| {target.name} {target.text} | {measured} | {target.op} {target.limit:g}{target.unit} | "
            f"{target.basis or '-'} | "
            f"{target.verdict} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------- profile

PROFILE_COLUMNS = (
    "module run",
    "task",
    "controller",
    "process",
    "start",
    "imports",
    "init",
    "client",
    "work",
    "exit",
    "imports by package",
)


def profile_cells(name, stages, task):
    """One profile line: seconds, with the controller's share (task - process) when the task time is known."""
    split = stages["import_split"]
    return [
        name,
        _number(task),
        _number(task - stages["process"] if task is not None else None),
        _number(stages["process"]),
        _number(stages["python_start"] + stages["setup"]),
        _number(stages["imports"]),
        _number(stages["module_init"]),
        _number(stages["client"]),
        _number(stages["work"]),
        _number(stages["exit"]),
        ", ".join(f"{group} {seconds:.2f}" for group, seconds in split.items()),
    ]


def profile_text(profile, tasks):
    rows = [profile_cells(name, stages, tasks.get(name)) for name, stages in profile.items()]
    widths = [
        max(len(PROFILE_COLUMNS[index]), *(len(row[index]) for row in rows)) for index in range(len(PROFILE_COLUMNS))
    ]
    lines = ["  ".join(name.ljust(width) for name, width in zip(PROFILE_COLUMNS, widths, strict=True))]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def profile_markdown(profile, tasks):
    lines = ["| " + " | ".join(PROFILE_COLUMNS) + " |", "|---|" + "---:|" * (len(PROFILE_COLUMNS) - 2) + "---|"]
    lines += [
        "| " + " | ".join(profile_cells(name, stages, tasks.get(name))) + " |" for name, stages in profile.items()
    ]
    return "\n".join(lines)


def action_task(samples, action):
    """Median time of the longest task running ``action`` (e.g. airgap.ecr.blob_fetch) in playbook samples."""
    times = [
        max((timing["seconds"] for timing in sample["tasks"] if timing.get("action") == action), default=None)
        for sample in samples
    ]
    times = [value for value in times if value is not None]
    return statistics.median(times) if times else None


def role_breakdown(samples, top=4):
    """Where the role's wall time goes: ansible-playbook outside any task, then its slowest tasks (medians)."""
    if not samples:
        return []
    per_task = {}
    for sample in samples:
        for timing in sample["tasks"]:
            per_task.setdefault(timing["task"].split(" : ", 1)[-1], []).append(timing["seconds"])
    medians = sorted(((statistics.median(values), name) for name, values in per_task.items()), reverse=True)
    wall = statistics.median(sample["wall"] for sample in samples)
    outside = statistics.median(
        sample["wall"] - sum(timing["seconds"] for timing in sample["tasks"]) for sample in samples
    )
    lines = [("ansible-playbook start-up and end (outside any task)", outside)]
    lines += [(name, seconds) for seconds, name in medians[:top]]
    lines.append((f"the other {max(0, len(medians) - top)} tasks", sum(seconds for seconds, _name in medians[top:])))
    lines.append(("whole run (wall)", wall))
    return lines
