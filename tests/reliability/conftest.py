# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the reliability suites share: one emulator with SigV4 checking on, the modules through
their real entry point, real ``ansible-playbook`` runs, layout checks and the figures.

``STRESS=1`` in the environment scales every suite up (``make stress``); the figures each test
records are printed at the end of the run and, when ``RELIABILITY_FIGURES`` names a file,
written there as JSON.
"""

import hashlib
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest

from ansible.utils.collection_loader._collection_finder import _AnsibleCollectionFinder

STRESS = os.environ.get("STRESS", "") not in ("", "0")
HERE = os.path.dirname(os.path.abspath(__file__))
COLLECTION_ROOT = os.path.dirname(os.path.dirname(HERE))
# <build>/ansible_collections/airgap/ecr: the Makefile exports the same path.
COLLECTIONS_PATH = os.environ.get("ANSIBLE_COLLECTIONS_PATH") or os.path.dirname(
    os.path.dirname(os.path.dirname(COLLECTION_ROOT))
)
# The collection loader, as ansible-playbook has it, so that plugin loaders (the lookup) find this collection.
if not any(isinstance(finder, _AnsibleCollectionFinder) for finder in sys.meta_path):
    _AnsibleCollectionFinder(paths=[COLLECTIONS_PATH])._install()  # pylint: disable=protected-access

# pylint: disable=wrong-import-position
from ansible_collections.airgap.ecr.tests.emulator import images  # noqa: E402
from ansible_collections.airgap.ecr.tests.emulator.harness import Emulator  # noqa: E402
from ansible_collections.airgap.ecr.tests.support.credentials import REGION  # noqa: E402,F401  pylint: disable=unused-import
from ansible_collections.airgap.ecr.tests.support.credentials import aws_options  # noqa: E402
from ansible_collections.airgap.ecr.tests.support.digests import file_digest  # noqa: E402
from ansible_collections.airgap.ecr.tests.support.modules import run_module  # noqa: E402,F401  pylint: disable=unused-import

# pylint: enable=wrong-import-position
BIN = os.path.dirname(sys.executable)
PLAYBOOK_TIMEOUT = 600

DEMO = images.DEMO_REPOSITORY
MANY = "reliability/many"


def scaled(normal, stress):
    """``normal`` in ``make reliability``, ``stress`` in ``make stress``."""
    return stress if STRESS else normal


# --------------------------------------------------------------------------- figures


class Figures:
    """Measured values, printed at the end of the run (and written as JSON with RELIABILITY_FIGURES)."""

    def __init__(self):
        self.rows = []

    def add(self, suite, name, value):
        self.rows.append({"suite": suite, "figure": name, "value": value})


FIGURES = Figures()


@pytest.fixture(scope="session", name="figures")
def figures_fixture():
    return FIGURES


def pytest_sessionfinish(session):
    output = getattr(session.config, "workeroutput", None)
    if output is not None:  # a pytest-xdist worker: hand the figures to the controller
        output["reliability_figures"] = json.dumps(FIGURES.rows)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):  # pylint: disable=unused-argument
    """pytest-xdist, on the controller: collect a worker's figures."""
    FIGURES.rows.extend(json.loads(getattr(node, "workeroutput", {}).get("reliability_figures", "[]")))


def pytest_terminal_summary(terminalreporter):
    if not FIGURES.rows:
        return
    FIGURES.rows.sort(key=lambda row: row["suite"])  # stable: each suite's rows keep their order
    terminalreporter.section(f"reliability figures ({'STRESS' if STRESS else 'make reliability'})")
    for row in FIGURES.rows:
        terminalreporter.write_line(f"{row['suite']:<12} {row['figure']:<64} {row['value']}")
    target = os.environ.get("RELIABILITY_FIGURES")
    if target:
        with open(target, "w", encoding="utf-8") as handle:
            json.dump({"stress": STRESS, "figures": FIGURES.rows}, handle, indent=1)


# --------------------------------------------------------------------------- environment and emulator


@pytest.fixture(scope="session", autouse=True)
def isolated_aws_environment():
    """No AWS configuration of the machine may help or hinder.

    No files, no instance metadata, no proxy to the emulator.
    """
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("AWS_") or name.lower() in ("http_proxy", "https_proxy", "all_proxy"):
                patch.delenv(name)
        patch.setenv("AWS_CONFIG_FILE", os.devnull)
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        patch.setenv("no_proxy", "127.0.0.1,localhost")
        yield


@pytest.fixture(scope="session", name="emulator")
def emulator_fixture():
    with Emulator(seed_demo=True, auth=True) as emulator:
        yield emulator


@pytest.fixture(name="emu")
def emu_fixture(emulator):
    """The shared emulator with no faults, an empty request log and its startup config, before and after the test."""
    emulator.reset()
    yield emulator
    emulator.reset()


@pytest.fixture(scope="session", name="many")
def many_fixture(emulator):
    """The digests of an image of many small blobs (its config first): the digests to resolve under faults."""
    client = emulator.client("ecr")
    layers = [images.make_layer(64, 1000 + index) for index in range(scaled(50, 200) - 1)]
    pushed = images.push_image(client, MANY, "many", layers, images.make_config(layers), media_type="oci")
    return [pushed["config"]["digest"]] + [layer["digest"] for layer in pushed["layers"]]


@pytest.fixture(scope="session", name="demo")
def demo_fixture(emulator):
    """airgap/demo:1.0 as the emulator describes it (config and three layers, 32 KiB to 4 MiB)."""
    return next(
        image for image in emulator.images() if image["repository"] == DEMO and images.DEMO_TAG in image["tags"]
    )


def aws_args(emulator, **changes):
    """The AWS options of a module run against the emulator, full access unless ``changes`` say otherwise."""
    return aws_options(emulator.endpoint_url, **changes)


def refused_port():
    """A bound socket that does not listen (connections to it are refused) and its port; close it when done."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock, sock.getsockname()[1]


def wait_for(predicate, timeout, step=0.05):
    """Poll ``predicate`` until it returns something true or ``timeout`` seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    value = predicate()
    while not value and time.monotonic() < deadline:
        time.sleep(step)
        value = predicate()
    return value


# --------------------------------------------------------------------------- ansible-playbook


class PlaybookRun:
    """One finished ``ansible-playbook`` run: return code, output (stdout and stderr), the log file, seconds."""

    def __init__(self, rc, output, log, seconds):
        self.rc = rc
        self.output = output
        self.log = log
        self.seconds = seconds

    @property
    def text(self):
        return self.output + self.log

    def __repr__(self):
        return f"ansible-playbook rc={self.rc} in {self.seconds:.1f}s\n{self.output[-12000:]}"


class Ansible:
    """Writes playbooks and inventories under one directory and runs them with the real ``ansible-playbook``."""

    def __init__(self, workdir):
        self.workdir = str(workdir)
        self.count = 0
        self.inputs = []  # the playbooks and inventories written here (the test's input, not the run's output)
        for name in ("home", "local_tmp", "remote_tmp"):
            os.makedirs(os.path.join(self.workdir, name), exist_ok=True)

    def environment(self, log_path):
        env = dict(os.environ)
        env.update(
            ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH,
            ANSIBLE_LOG_PATH=log_path,
            ANSIBLE_LOCAL_TEMP=os.path.join(self.workdir, "local_tmp"),
            ANSIBLE_REMOTE_TEMP=os.path.join(self.workdir, "remote_tmp"),
            ANSIBLE_HOME=os.path.join(self.workdir, "home"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
            ANSIBLE_DEPRECATION_WARNINGS="0",
            ANSIBLE_PYTHON_INTERPRETER=sys.executable,
            PATH=BIN + os.pathsep + env.get("PATH", ""),
        )
        return env

    def inventory(self, hosts):
        """``hosts``: {name: {var: value}}; all local, with this Python."""
        lines = ["[fleet]"]
        for name, variables in hosts.items():
            lines.append(" ".join([name] + [f"{key}={json.dumps(value)}" for key, value in variables.items()]))
        lines += ["[fleet:vars]", "ansible_connection=local", f"ansible_python_interpreter={sys.executable}"]
        path = self.write("inventory", "\n".join(lines) + "\n")
        self.inputs.append(path)
        return path

    def write(self, stem, text):
        self.count += 1
        path = os.path.join(self.workdir, f"{self.count:02d}-{stem}")
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        return path

    def command(self, plays, inventory=None, args=()):
        # YAML is a superset of JSON: the playbook is written as JSON.
        playbook = self.write("playbook.yml", json.dumps(plays, indent=1))
        self.inputs.append(playbook)
        log_path = self.write("ansible.log", "")
        command = [os.path.join(BIN, "ansible-playbook"), playbook]
        if inventory:
            command += ["-i", inventory]
        return command + list(args), log_path

    def start(self, plays, inventory=None, args=()):
        """Start ansible-playbook in its own process group; returns ``(process, log_path, output_path)``."""
        command, log_path = self.command(plays, inventory, args)
        output_path = self.write("output.txt", "")
        with open(output_path, "wb") as output:
            process = subprocess.Popen(  # pylint: disable=consider-using-with
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                env=self.environment(log_path),
                cwd=self.workdir,
                start_new_session=True,
            )
        return process, log_path, output_path

    def run(self, plays, inventory=None, args=(), timeout=PLAYBOOK_TIMEOUT):
        started = time.monotonic()
        process, log_path, output_path = self.start(plays, inventory, args)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_play(process)
            raise
        return PlaybookRun(process.returncode, read_text(output_path), read_text(log_path), time.monotonic() - started)


def process_table():
    """``{pid: (parent pid, state)}`` of every process, from /proc."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="utf-8", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        table[int(name)] = (int(fields[1]), fields[0])
    return table


def play_processes(leader):
    """``leader`` (ansible-playbook) and every process under it.

    ansible-core's worker processes call setsid(): they and the modules they run are in
    sessions and process groups of their own, which a signal to ansible-playbook's process
    group does not reach.
    """
    table = process_table()
    found = {leader}
    todo = [leader]
    while todo:
        parent = todo.pop()
        for pid, (ppid, _state) in table.items():
            if ppid == parent and pid not in found:
                found.add(pid)
                todo.append(pid)
    return found


def running(pids):
    """Those of ``pids`` still running (a zombie waiting to be reaped is not)."""
    table = process_table()
    return sorted(pid for pid in pids if pid in table and table[pid][1] not in ("Z", "X"))


def kill_play(process, signum=signal.SIGKILL, whole_tree=True):
    """Signal a play started by Ansible.start and reap ansible-playbook; returns the pids the play had.

    ``whole_tree``: every process of the play, as when its machine or container goes away;
    otherwise only ansible-playbook's process group, as Ctrl-C in a terminal or a CI runner does.
    """
    pids = play_processes(process.pid)
    targets = pids if whole_tree else []
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass
    for pid in targets:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait(timeout=30)
    return pids


def read_text(path):
    with open(path, encoding="utf-8", errors="replace") as handle:
        return handle.read()


@pytest.fixture(name="ansible")
def ansible_fixture(tmp_path):
    return Ansible(tmp_path / "ansible")


def role_play(emulator, hosts="fleet", aws=None, **role_vars):
    """A play running the image_fetch role on ``hosts`` (each host's layout at its ``dest`` variable)."""
    variables = {
        "image_fetch_repository": DEMO,
        "image_fetch_dest": "{{ dest }}",
        "image_fetch_platform": "linux/amd64",
        "image_fetch_aws": aws if aws is not None else aws_args(emulator),
        "image_fetch_allow_http": True,  # the emulator's URLs are http://
    }
    variables.update(role_vars)
    return [
        {
            "name": "Fetch the image",
            "hosts": hosts,
            "gather_facts": False,
            "roles": [dict({"role": "airgap.ecr.image_fetch"}, **variables)],
        }
    ]


# --------------------------------------------------------------------------- files


def tree_state(root):
    """Every entry under ``root`` (and ``root`` itself): path, type, mode, size, mtime and content digest."""
    if not os.path.lexists(root):
        return [["(absent)"]]
    entries = []
    for directory, subdirectories, files in os.walk(root):
        subdirectories.sort()
        links = [name for name in subdirectories if os.path.islink(os.path.join(directory, name))]
        for path in [directory] + [os.path.join(directory, name) for name in sorted(files) + links]:
            info = os.lstat(path)
            content = file_digest(path) if stat.S_ISREG(info.st_mode) else None
            entries.append(
                [
                    os.path.relpath(path, root),
                    stat.S_IFMT(info.st_mode),
                    stat.S_IMODE(info.st_mode),
                    info.st_size,
                    info.st_mtime_ns,
                    content,
                ]
            )
    return entries


def tree_hash(root):
    """One digest of tree_state(root)."""
    return hashlib.sha256(json.dumps(tree_state(root)).encode("utf-8")).hexdigest()


def unverified_final_files(dest):
    """Files at final paths of an OCI layout that are not what their path says.

    A blob's final path is ``blobs/<algorithm>/<hex>``: its content must have that digest.
    ``index.json`` must not name a manifest that is missing or unverified. Hidden files
    (``.<hex>.partial``, kept to resume) are not final paths; see stray_files().
    """
    bad = []
    blobs = os.path.join(dest, "blobs")
    for directory, _subdirectories, files in os.walk(blobs):
        for name in files:
            if name.startswith("."):
                continue
            algorithm = os.path.basename(directory)
            path = os.path.join(directory, name)
            if os.path.dirname(directory) != blobs or file_digest(path, algorithm) != f"{algorithm}:{name}":
                bad.append(os.path.relpath(path, dest))
    index = os.path.join(dest, "index.json")
    if os.path.exists(index):
        with open(index, encoding="utf-8") as handle:
            for entry in json.load(handle).get("manifests", []):
                algorithm, encoded = entry["digest"].split(":", 1)
                path = os.path.join(blobs, algorithm, encoded)
                if not os.path.isfile(path) or file_digest(path, algorithm) != entry["digest"]:
                    bad.append(f"index.json -> {entry['digest']}")
    return bad


def stray_files(root):
    """Hidden or temporary files under ``root`` (``.partial`` files, ``.<name>.*`` temporaries, ``*.tmp``)."""
    found = []
    for directory, _subdirectories, files in os.walk(root):
        for name in files:
            if name.startswith(".") or name.endswith((".partial", ".tmp")):
                found.append(os.path.relpath(os.path.join(directory, name), root))
    return sorted(found)


def verify_layout(dest, ref_name):
    """A complete, verified layout: every final file verified, nothing stray, and skopeo reads ``ref_name``.

    Returns what ``skopeo inspect`` says.
    """
    assert os.path.isfile(os.path.join(dest, "index.json")), f"no index.json in {dest}"
    assert not unverified_final_files(dest), unverified_final_files(dest)
    assert not stray_files(dest), stray_files(dest)
    result = subprocess.run(
        ["skopeo", "inspect", f"oci:{dest}:{ref_name}"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    inspected = json.loads(result.stdout)
    for layer in inspected["Layers"]:
        algorithm, encoded = layer.split(":", 1)
        assert os.path.isfile(os.path.join(dest, "blobs", algorithm, encoded)), layer
    return inspected
