# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""make bench: airgap.ecr against its alternatives, on the local ECR emulator with latency injected.

usage: python benchmarks/bench.py [--quick] [--latency-ms 50] [--groups layer_urls,...] [--output DIR]
(make bench; BENCH_QUICK=1, BENCH_LATENCY_MS and BENCH_GROUPS are the same options)

Prints one table of medians and ratios, the targets (PASS / MISS) and where the time of the
module runs goes; writes results.json and results.md into the output directory. Exits 1
when a target is missed, 2 when the benchmark itself could not run.
"""

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time

import groups
import profiling
import report
import report_via
import runners
import workload

HERE = os.path.dirname(os.path.abspath(__file__))
# Repetitions of each group (full / quick); the contenders alternate within every repetition.
REPS = {
    "layer_urls": (3, 1),
    "concurrency": (3, 1),
    "peers": (7, 3),
    "fleet": (3, 1),
    "delivery": (3, 1),
    "big_layer": (3, 1),
    "via": (3, 1),
    "bundle_delta": (3, 1),
    "relay": (3, 1),
    "profile": (5, 2),
}
# The download module's runs are long (500 MB each): fewer of them.
DELIVERY_PROFILE_REPS = 3
# The whole run is abandoned (exit 2) past this many minutes.
MAX_MINUTES = 75


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        default=os.environ.get("BENCH_QUICK", "") not in ("", "0"),
        help="fewer repetitions (also BENCH_QUICK=1)",
    )
    parser.add_argument(
        "--latency-ms",
        type=int,
        default=int(os.environ.get("BENCH_LATENCY_MS", "50")),
        help="latency added to every API call (default 50, or BENCH_LATENCY_MS)",
    )
    parser.add_argument(
        "--s3-rate",
        type=float,
        default=float(os.environ.get("BENCH_S3_RATE", groups.S3_CONNECTION_RATE_MB)),
        help="throughput of each blob download connection in the delivery row, in MB/s; 0 for loopback speed "
        f"(default {groups.S3_CONNECTION_RATE_MB:g}, or BENCH_S3_RATE)",
    )
    parser.add_argument(
        "--groups",
        default=os.environ.get("BENCH_GROUPS") or ",".join(REPS),
        help="comma-separated groups to run (default: all, or BENCH_GROUPS): " + ", ".join(REPS),
    )
    parser.add_argument("--output", default=os.path.join(HERE, "output"), help="where results.json and results.md go")
    parser.add_argument("--max-minutes", type=float, default=MAX_MINUTES, help="give up after this long")
    args = parser.parse_args(argv)
    args.groups = [name.strip() for name in args.groups.split(",") if name.strip()]
    unknown = set(args.groups) - set(REPS)
    if unknown:
        parser.error(f"unknown groups: {', '.join(sorted(unknown))}")
    return args


def version_of(command):
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except OSError:
        return "not found"
    return (
        (result.stdout or result.stderr).strip().splitlines()[0]
        if (result.stdout or result.stderr).strip()
        else "unknown"
    )


def cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib():
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        return None


def machine(runner):
    import boto3  # pylint: disable=import-outside-toplevel
    import botocore  # pylint: disable=import-outside-toplevel

    import ansible  # pylint: disable=import-outside-toplevel

    return {
        "cpus": os.cpu_count(),
        "cpu": cpu_model(),
        "memory_gib": memory_gib(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "ansible_core": ansible.__version__,
        "boto3": boto3.__version__,
        "botocore": botocore.__version__,
        "aws_cli": version_of([runner.aws, "--version"]),
        "curl": version_of(["curl", "--version"]),
        "load_average_at_start": os.getloadavg(),
    }


def run_groups(bench, args):
    for name in args.groups:
        if name == "profile":
            continue
        reps = REPS[name][1 if args.quick else 0]
        bench.log(f"== {name} ({reps} repetitions)")
        started = time.monotonic()
        groups.GROUPS[name](bench, reps)
        bench.log(f"   {name} took {time.monotonic() - started:.0f} s")


def run_profile(bench, args):
    if "profile" not in args.groups:
        return {}, {}
    reps = REPS["profile"][1 if args.quick else 0]
    bench.log(f"== profile ({reps} repetitions)")
    layers = bench.workload.image(workload.LAYERS_IMAGE)
    workload.set_latency(bench.workload.emulator, bench.latency_ms)
    digests = [layer["digest"] for layer in layers["layers"]]
    modules = profiling.profile_layer_urls(bench, workload.LAYERS_IMAGE.repository, digests, reps)
    delivery = {}
    if "delivery" in args.groups:
        groups.delivery_network(bench)
        delivery = profiling.profile_delivery(
            bench, workload.BIG_IMAGE.repository, workload.BIG_IMAGE.tag, min(reps, DELIVERY_PROFILE_REPS)
        )
    return modules, delivery


def profile_tasks(results):
    """Task times (medians from the groups) of the profiled module runs."""
    return {
        "(1) N=1": results.median("layer_urls", "ours", 1, field="task"),
        "(1) N=50": results.median("layer_urls", "ours", 50, field="task"),
        "sts_assume_role": results.median("peers", "sts_assume_role", 1, field="task"),
    }


def describe(summary):
    """The run in one paragraph: command, machine, versions, load."""
    m = summary["machine"]
    load = "/".join(f"{value:.1f}" for value in m["load_average_at_start"])
    end = "/".join(f"{value:.1f}" for value in summary.get("load_average_at_end", ()))
    return (
        f"`{summary['command']}` on {summary['date']}, {summary.get('minutes', '?')} minutes: {m['cpus']} CPUs "
        f"({m['cpu']}), "
        f"{m['memory_gib']} GiB, {m['os']}; Python {m['python']}, ansible-core {m['ansible_core']}, boto3 "
        f"{m['boto3']}, "
        f"botocore {m['botocore']}, {m['aws_cli']}, {m['curl'].split(' (')[0]}; load average (1/5/15 min) {load} at "
        "the start, "
        f"{end} at the end. Latency: {summary['latency_ms']} ms on every API call; none on blob downloads, which run "
        f"{groups.rate_text(summary['s3_rate_mb'])}."
    )


def render(summary, results, found, profiles):
    """The whole report, as text (for the terminal) and as Markdown (for docs/performance.md)."""
    rows = report.table_rows(results, summary["latency_ms"], summary["s3_rate_mb"])
    rows += report_via.rows(results, summary["s3_rate_mb"])
    modules, delivery = profiles
    tasks = profile_tasks(results)
    role_samples = results.get("delivery", "image_fetch", groups.DELIVERY_SIZE)
    breakdown = report.role_breakdown(role_samples)
    role_tasks = {name: report.action_task(role_samples, f"airgap.ecr.{name}") for name in delivery}
    text = [describe(summary), "", report.text_table(rows), "", "Targets", report.targets_text(found)]
    markdown = [describe(summary), "", report.markdown_table(rows), "", report.targets_markdown(found)]
    if modules:
        text += ["", "Where the time of a module task goes (medians, seconds)", report.profile_text(modules, tasks)]
        markdown += ["", report.profile_markdown(modules, tasks)]
    if delivery:
        text += ["", "Modules of the role, 500 MB (medians, seconds)", report.profile_text(delivery, role_tasks)]
        markdown += ["", report.profile_markdown(delivery, role_tasks)]
    if breakdown:
        text += ["", "image_fetch role, 500 MB, by task (medians, seconds)"] + [
            f"  {seconds:7.2f}  {name}" for name, seconds in breakdown
        ]
        markdown += ["", "| image_fetch role, 500 MB | seconds |", "|---|---:|"] + [
            f"| {name} | {seconds:.2f} |" for name, seconds in breakdown
        ]
    return "\n".join(text), "\n".join(markdown)


def write_outputs(output, summary, results, found, profiles, markdown):
    os.makedirs(output, exist_ok=True)
    data = dict(
        summary,
        targets=[vars(target) | {"ok": target.ok} for target in found],
        profile=profiles[0],
        delivery_profile=profiles[1],
        results=results.as_json(),
    )
    with open(os.path.join(output, "results.json"), "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, default=str)
    with open(os.path.join(output, "results.md"), "w", encoding="utf-8") as handle:
        handle.write(markdown + "\n")


def command_line(args):
    """The make command that gives this run (the options as their environment variables)."""
    words = ["make bench"]
    if args.quick:
        words.append("BENCH_QUICK=1")
    if args.latency_ms != 50:
        words.append(f"BENCH_LATENCY_MS={args.latency_ms}")
    if args.s3_rate != groups.S3_CONNECTION_RATE_MB:
        words.append(f"BENCH_S3_RATE={args.s3_rate:g}")
    if args.groups != list(REPS):
        words.append(f"BENCH_GROUPS={','.join(args.groups)}")
    build = os.path.basename(os.environ.get("AIRGAP_BUILD", "build"))
    if build != "build":
        words.append(f"BUILD={build}")
    return " ".join(words)


def log(message):
    print(message, flush=True)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    started = time.monotonic()
    work_dir = os.path.join(args.output, "work")
    shutil.rmtree(work_dir, ignore_errors=True)
    os.makedirs(work_dir)
    results = groups.Results()
    try:
        with workload.Workload(work_dir) as load:
            runner = runners.Runner(load, workload.command_env(work_dir), work_dir)
            bench = groups.Bench(
                load,
                runner,
                args.latency_ms,
                results,
                log,
                deadline=started + args.max_minutes * 60,
                s3_rate_mb=args.s3_rate,
            )
            summary = {
                "command": command_line(args),
                "quick": args.quick,
                "date": time.strftime("%Y-%m-%d %H:%M %Z"),
                "latency_ms": args.latency_ms,
                "s3_rate_mb": args.s3_rate,
                "machine": machine(runner),
                "groups": args.groups,
            }
            log(
                f"emulator at {load.endpoint}; {args.latency_ms} ms per API call; blob downloads "
                f"{groups.rate_text(args.s3_rate)}; "
                f"{'quick' if args.quick else 'full'} run"
            )
            run_groups(bench, args)
            profiles = run_profile(bench, args)
    except (runners.CommandError, subprocess.TimeoutExpired) as e:
        log(f"benchmark failed: {e}")
        return 2
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    summary["minutes"] = round((time.monotonic() - started) / 60, 1)
    summary["load_average_at_end"] = os.getloadavg()
    found = report.targets(results) + report_via.targets(results)
    text, markdown = render(summary, results, found, profiles)
    write_outputs(args.output, summary, results, found, profiles, markdown)
    log("")
    log(text)
    log("")
    log(f"{summary['minutes']} minutes; results in {os.path.relpath(args.output)}/results.md and results.json")
    missed = [target.name for target in found if target.ok is False]
    if missed:
        log(f"make bench: targets missed: {', '.join(missed)}")
        return 1
    unmeasured = [target.name for target in found if target.ok is None]
    log("make bench: every target met" + (f" (not measured: {', '.join(unmeasured)})" if unmeasured else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
