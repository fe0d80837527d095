# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How each contender is run and timed.

Every contender is a fresh process (ansible-playbook, a shell script, curl), timed from its
start to its exit ("wall"); for a playbook the bench_timer callback also gives the time of
each task ("task"). The floor of the layer URL rows runs in this process.
"""

import json
import os
import resource
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))
PLAYBOOKS = os.path.join(HERE, "playbooks")
SCRIPTS = os.path.join(HERE, "scripts")
# No single command may take longer than this; the benchmark then fails instead of hanging.
COMMAND_TIMEOUT = 600


class CommandError(RuntimeError):
    """A benchmarked command failed: its result would mean nothing."""


def run_timed(command, env, cwd, timeout=COMMAND_TIMEOUT):
    """Run ``command``; return its wall time in seconds, or raise CommandError with its output."""
    started = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        output = (result.stdout + result.stderr)[-4000:]
        raise CommandError(f"{' '.join(command[:3])} ... exited with {result.returncode}:\n{output}")
    return wall


def read_timings(path):
    """The ``{"task", "seconds"}`` lines the bench_timer callback wrote."""
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def read_module_cpu(path):
    """The CPU seconds of the module runs that scripts/module_cpu.sh logged into ``path``."""
    if not os.path.exists(path):
        return 0.0
    with open(path, encoding="utf-8") as handle:
        return sum(float(user) + float(system) for user, system, _name in (line.split() for line in handle))


def children_cpu():
    """User and system CPU seconds of the terminated children of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Runner:
    """Runs the contenders against one emulator, in one work directory, with one environment."""

    def __init__(self, workload, env, work_dir):
        self.workload = workload
        self.env = env
        self.work_dir = work_dir
        self.aws = os.environ.get("AIRGAP_AWS_CLI") or os.path.join(os.path.dirname(HERE), ".venv-awscli", "bin", "aws")
        self._count = 0

    def _scratch(self, name):
        self._count += 1
        return os.path.join(self.work_dir, f"{self._count:05d}-{name}")

    def write_text(self, name, text):
        """A new file in the work directory holding ``text``; its path."""
        path = self._scratch(name)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        return path

    def write_json(self, name, data):
        return self.write_text(name, json.dumps(data))

    def write_lines(self, name, lines):
        return self.write_text(name, "".join(f"{line}\n" for line in lines))

    def measure(self, command, env=None):
        """Run ``command`` with a clean request log; return the sample (wall, ECR and API calls)."""
        self.workload.emulator.clear_requests()
        before = children_cpu()
        wall = run_timed(command, env or self.env, self.work_dir)
        ecr, api, pulled = self.workload.ecr_calls()
        # CPU seconds of the command and everything it waited for (the emulator, still running, is not counted):
        # on a machine shared with other work, CPU per host says what wall time cannot.
        sample = {"wall": wall, "cpu": children_cpu() - before, "ecr_calls": ecr, "api_calls": api}
        return dict(sample, s3_bytes=pulled)

    def playbook(self, name, extra_vars, inventory="localhost,", forks=None, env=None, module_cpu=False):
        """Run benchmarks/playbooks/``name``; the sample also has ``tasks`` (each task's time) and ``task``.

        With ``module_cpu``, the hosts' modules run through scripts/module_cpu.sh, and the sample has
        ``module_cpu``: the CPU seconds of every module run on the hosts (not those delegated to localhost,
        whose interpreter is ansible-playbook's), the part of ``cpu`` that a real fleet spends on its hosts.
        """
        timings = self._scratch("timings.jsonl")
        env = dict(env or self.env, AIRGAP_BENCH_TIMINGS=timings)
        if forks:
            env["ANSIBLE_FORKS"] = str(forks)
        cpu_log = self._scratch("module-cpu.txt") if module_cpu else None
        if cpu_log:
            env.update(
                AIRGAP_BENCH_MODULE_CPU=cpu_log,
                AIRGAP_BENCH_PYTHON=env["ANSIBLE_PYTHON_INTERPRETER"],
                ANSIBLE_PYTHON_INTERPRETER=os.path.join(SCRIPTS, "module_cpu.sh"),
            )
        variables = self.write_json("vars.json", dict(extra_vars, endpoint=self.workload.endpoint))
        command = [
            "ansible-playbook",
            "-i",
            inventory,
            "-c",
            "local",
            "-e",
            f"@{variables}",
            os.path.join(PLAYBOOKS, name),
        ]
        sample = self.measure(command, env)
        if cpu_log:
            sample["module_cpu"] = read_module_cpu(cpu_log)
        lines = read_timings(timings)
        sample["tasks"] = [line for line in lines if "task" in line]
        # The image_fetch role's download module's own work (download.seconds), when the role ran.
        sample["download"] = next((line["download_seconds"] for line in lines if "download_seconds" in line), None)
        # The task time of a one-task playbook; a playbook of several tasks is judged on its wall time.
        sample["task"] = sample["tasks"][0]["seconds"] if len(sample["tasks"]) == 1 else None
        return sample

    def script(self, name, *args):
        """Run benchmarks/scripts/``name`` with the AWS CLI as its first argument."""
        return self.measure([os.path.join(SCRIPTS, name), self.aws, self.workload.endpoint, *args])

    def boto3_floor(self, repository, digests):
        """One boto3 client in this process resolving every digest at once (client creation included)."""
        self.workload.emulator.clear_requests()
        started = time.perf_counter()
        client = self.workload.ecr(
            config=Config(max_pool_connections=max(10, len(digests)), retries={"total_max_attempts": 1})
        )
        with ThreadPoolExecutor(max_workers=len(digests)) as pool:
            urls = list(
                pool.map(
                    lambda digest: client.get_download_url_for_layer(repositoryName=repository, layerDigest=digest)[
                        "downloadUrl"
                    ],
                    digests,
                )
            )
        wall = time.perf_counter() - started
        if len(urls) != len(digests):
            raise CommandError("the boto3 floor did not resolve every digest")
        ecr, api, _pulled = self.workload.ecr_calls()
        return {"wall": wall, "ecr_calls": ecr, "api_calls": api}

    def resolve_urls(self, repository, digests):
        """Pre-signed URLs of ``digests``, resolved outside of any measurement."""
        client = self.workload.ecr()
        return [
            client.get_download_url_for_layer(repositoryName=repository, layerDigest=digest)["downloadUrl"]
            for digest in digests
        ]

    def curl_floor(self, urls, dest, parallel):
        """curl of already resolved URLs into ``dest``, ``parallel`` at a time, no verification."""
        fd, config = tempfile.mkstemp(prefix="curl-", suffix=".conf", dir=self.work_dir)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for index, url in enumerate(urls):
                handle.write(f'url = "{url}"\noutput = "{os.path.join(dest, f"blob-{index:02d}")}"\n')
        try:
            # --parallel-immediate: without it, curl 7.x waits to multiplex on its first connection, and an
            # HTTP/1.1 server gets the transfers one after another.
            return self.measure(
                [
                    "curl",
                    "--fail",
                    "--silent",
                    "--show-error",
                    "--parallel",
                    "--parallel-immediate",
                    "--parallel-max",
                    str(parallel),
                    "--config",
                    config,
                ]
            )
        finally:
            os.unlink(config)
