# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the time of a module task goes: controller, interpreter and AnsiballZ, imports, client, calls.

A playbook is run once with ANSIBLE_KEEP_REMOTE_FILES=1 to keep the AnsiballZ file of its
module. That file is then run again and again, alternating between the subjects: as it is
(``process``, the module's whole run on the host) and through module_stages.py (its stages).
``python -X importtime`` splits the imports by package. The controller's share of a task
is the task time measured by the benchmark groups minus the module process.
"""

import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

from runners import CommandError

HERE = os.path.dirname(os.path.abspath(__file__))
STAGES = os.path.join(HERE, "module_stages.py")
STAGE_NAMES = ("imports", "module_init", "client", "work", "exit")
IMPORT_GROUPS = (
    ("airgap.ecr", ("ansible_collections.airgap",)),
    ("amazon.aws", ("ansible_collections.amazon",)),
    ("ansible", ("ansible",)),
    ("boto3/botocore", ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3")),
)
_IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def keep_ansiballz(runner, playbook, variables, modules, **kwargs):
    """Run ``playbook`` keeping its remote files.

    Returns {module: its AnsiballZ file} for ``modules`` (e.g. ``ecr_layer_url``).
    """
    keep = os.path.join(runner.work_dir, f"keep-{len(os.listdir(runner.work_dir))}")
    env = dict(runner.env, ANSIBLE_KEEP_REMOTE_FILES="1", ANSIBLE_REMOTE_TEMP=keep)
    runner.playbook(playbook, variables, env=env, **kwargs)
    kept = {}
    for module in modules:
        found = sorted(glob.glob(os.path.join(keep, "*", f"AnsiballZ_{module}.py")))
        if not found:
            raise CommandError(f"no AnsiballZ file of {module} was kept in {keep}")
        kept[module] = found[0]
    return kept


def _run(command, env, timeout=300):
    started = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    return time.perf_counter() - started, result


def process_time(path, env):
    """Wall time of the module run exactly as Ansible runs it on the host."""
    wall, result = _run([sys.executable, path], env)
    if result.returncode != 0 or '"failed": true' in result.stdout:
        raise CommandError(
            f"{os.path.basename(path)} failed when run again:\n{(result.stdout + result.stderr)[-2000:]}"
        )
    return wall


def stage_times(path, env, scratch):
    """The stages of one run of the module (module_stages.py), plus that run's interpreter start-up."""
    output = os.path.join(scratch, "stages.json")
    wall, result = _run([sys.executable, STAGES, path, output], env)
    if result.returncode != 0:
        raise CommandError(f"module_stages.py {os.path.basename(path)} failed:\n{result.stderr[-2000:]}")
    with open(output, encoding="utf-8") as handle:
        stages = json.load(handle)
    stages["python_start"] = wall - sum(stages.values())
    return stages


def import_split(path, env, scratch):
    """Self time of the imports (python -X importtime), summed by package group."""
    output = os.path.join(scratch, "stages.json")
    _wall, result = _run([sys.executable, "-X", "importtime", STAGES, path, output], env)
    totals = {name: 0.0 for name, _prefixes in IMPORT_GROUPS}
    totals["stdlib/other"] = 0.0
    for line in result.stderr.splitlines():
        match = _IMPORT_LINE.match(line)
        if match:
            totals[_import_group(match.group(4))] += int(match.group(1)) / 1e6
    return totals


def _import_group(name):
    for group, prefixes in IMPORT_GROUPS:
        if any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes):
            return group
    return "stdlib/other"


def profile_modules(subjects, env, scratch, reps, reset=None):
    """``subjects``: {name: AnsiballZ path}. Return {name: medians of process, python_start, stages, imports split}.

    ``reset(name)``, when given, runs before every run of a subject (e.g. to remove what it downloaded).
    """
    reset = reset or (lambda name: None)
    samples = {name: [] for name in subjects}
    for rep in range(reps):
        names = list(subjects)
        names = names[rep % len(names) :] + names[: rep % len(names)]
        for name in names:
            reset(name)
            stages = stage_times(subjects[name], env, scratch)
            reset(name)
            stages["process"] = process_time(subjects[name], env)
            samples[name].append(stages)
    profile = {}
    for name, runs in samples.items():
        profile[name] = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        reset(name)
        profile[name]["import_split"] = import_split(subjects[name], env, scratch)
    return profile


# ---------------------------------------------------------------------- what make bench profiles


def profile_layer_urls(bench, repository, digests, reps):
    """(1) at N=1 and N=50 and the one-call peer, stage by stage."""
    runner = bench.runner
    subjects = {
        "(1) N=1": keep_ansiballz(
            runner, "layer_urls.yml", {"repository": repository, "digests": digests[:1]}, ["ecr_layer_url"]
        )["ecr_layer_url"],
        "(1) N=50": keep_ansiballz(
            runner, "layer_urls.yml", {"repository": repository, "digests": digests[:50]}, ["ecr_layer_url"]
        )["ecr_layer_url"],
        "sts_assume_role": keep_ansiballz(runner, "peer_sts_assume_role.yml", {}, ["sts_assume_role"])[
            "sts_assume_role"
        ],
    }
    return profile_modules(subjects, runner.env, runner.work_dir, reps)


def profile_delivery(bench, repository, tag, reps):
    """The controller-side resolution and the download module of the role, 500 MB."""
    runner = bench.runner
    dest = bench.scratch_dir("profile-delivery")
    modules = ["ecr_image_layers", "oci_layout"]
    kept = keep_ansiballz(runner, "image_fetch.yml", {"repository": repository, "tag": tag, "dest": dest}, modules)
    layout = os.path.join(dest, "localhost")

    def reset(name):
        if name == "oci_layout":
            # Its run downloads the blobs and writes the layout: start from an empty directory each time.
            shutil.rmtree(layout, ignore_errors=True)

    try:
        return profile_modules(kept, runner.env, runner.work_dir, reps, reset)
    finally:
        shutil.rmtree(dest, ignore_errors=True)
