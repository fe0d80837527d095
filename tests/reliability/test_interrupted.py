# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Interrupted runs: a play killed in the middle of a download, then run again, ends with a complete, verified
layout, no stray temporary file, and the cut download resumed rather than started over.

The emulator serves only 300000 bytes of each request for the largest layer (4 MiB), so its
download advances 300000 bytes an attempt (resuming with Range requests). Once a host has
such a ``.partial`` on disk, the emulator also holds every further request for the layer for
a few seconds, so the play is waiting in the middle of that download when it is signalled:

* SIGKILL to every process of the play (ansible-playbook, its workers, the modules), as when
  the controller or its container goes away;
* in ``make stress`` also SIGINT and SIGTERM to ansible-playbook's process group only, as
  Ctrl-C or a CI runner does. ansible-core's workers run in sessions of their own, so the
  module already running is not signalled: it ends by itself (its attempts fail, the
  emulator still cutting them short). The test waits for that before running again.

Whatever the timing, the next run must resume from the ``.partial`` it finds.
"""

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

from ansible_collections.airgap.ecr.plugins.module_utils.digests import CHUNK_SIZE
from ansible_collections.airgap.ecr.tests.reliability.conftest import kill_play
from ansible_collections.airgap.ecr.tests.reliability.conftest import read_text
from ansible_collections.airgap.ecr.tests.reliability.conftest import role_play
from ansible_collections.airgap.ecr.tests.reliability.conftest import running
from ansible_collections.airgap.ecr.tests.reliability.conftest import scaled
from ansible_collections.airgap.ecr.tests.reliability.conftest import stray_files
from ansible_collections.airgap.ecr.tests.reliability.conftest import unverified_final_files
from ansible_collections.airgap.ecr.tests.reliability.conftest import verify_layout
from ansible_collections.airgap.ecr.tests.reliability.conftest import wait_for
from ansible_collections.airgap.ecr.tests.support.blob_server import BlobServer
from ansible_collections.airgap.ecr.tests.support.digests import digest_of

PARTIAL_AT = 300000
HOLD_MS = 5000
# (signal, whole process tree?)
WAYS = scaled([(signal.SIGKILL, True)], [(signal.SIGKILL, True), (signal.SIGINT, False), (signal.SIGTERM, False)] * 2)


def partial_size(path):
    return os.path.getsize(path) if os.path.isfile(path) else 0


def test_killed_mid_download_then_run_again(emu, ansible, tmp_path, demo, figures):
    chooser = random.Random(7)
    big = max(demo["layers"], key=lambda layer: layer["size"])
    resumed = 0
    ended = {}
    held_until = 0.0
    for number, (signum, whole_tree) in enumerate(WAYS):
        emu.reset()
        hosts = {
            f"host{index + 1}": {"dest": str(tmp_path / f"round{number}" / f"host{index + 1}")}
            for index in range(scaled(1, 2))
        }
        partials = {
            name: os.path.join(host["dest"], "blobs", "sha256", f".{big['digest'][7:]}.partial")
            for name, host in hosts.items()
        }
        emu.faults(operation="GetObject", count=None, truncate=PARTIAL_AT, digest=big["digest"])
        process, _log, output = ansible.start(role_play(emu, image_fetch_tag="1.0"), ansible.inventory(hosts))
        pids = set()
        try:
            cut = wait_for(
                lambda partials=partials: all(partial_size(path) >= PARTIAL_AT for path in partials.values()),
                timeout=120,
                step=0.01,
            )
            # From now on every request for the layer waits at the emulator: the play is in the middle of its download.
            emu.faults(operation="GetObject", count=None, latency_ms=HOLD_MS, digest=big["digest"])
            assert cut, f"the layer's download was not cut:\n{read_text(output)}"
            time.sleep(scaled(1.5, chooser.uniform(1.2, 3.0)))
            assert process.poll() is None, f"the play ended before it could be interrupted:\n{read_text(output)}"
            signalled = time.monotonic()
            # The emulator answers the held request by then: its log entry must not land in another test's log.
            held_until = signalled + HOLD_MS / 1000 + 1
            pids = kill_play(process, signum, whole_tree=whole_tree)
            assert len(pids) > 2, "the play's workers and modules were running"
            assert wait_for(lambda pids=pids: not running(pids), timeout=120), running(pids)
            ended.setdefault(
                f"{signal.Signals(signum).name} to {'every process' if whole_tree else 'the process group'}", []
            ).append(time.monotonic() - signalled)
        finally:
            if process.poll() is None or running(pids):
                kill_play(process)
        kept = {}
        for name, host in hosts.items():
            assert not unverified_final_files(host["dest"])
            kept[name] = partial_size(partials[name])
            assert kept[name] and kept[name] % PARTIAL_AT == 0 and kept[name] < big["size"], kept
            assert f"blobs/sha256/.{big['digest'][7:]}.partial" in stray_files(host["dest"])
            assert not os.path.exists(os.path.join(host["dest"], "index.json"))

        emu.reset()
        again = time.monotonic()
        run = ansible.run(role_play(emu, image_fetch_tag="1.0"), ansible.inventory(hosts))
        assert run.rc == 0, run
        for host in hosts.values():
            verify_layout(host["dest"], "1.0")
            assert not stray_files(os.path.dirname(host["dest"]))
        since = time.time() - (time.monotonic() - again)
        ranges = [
            entry["params"].get("range")
            for entry in emu.requests()
            if entry["operation"] == "GetObject"
            and entry["params"]["key"].endswith(big["digest"])
            and entry["time"] >= since
        ]
        assert sorted(ranges) == sorted(f"bytes={size}-" for size in kept.values()), (ranges, kept)
        resumed += len(ranges)
        time.sleep(max(0.0, held_until - time.monotonic()))
    layouts = len(WAYS) * scaled(1, 2)
    figures.add(
        "interrupted",
        f"plays signalled mid-download ({', '.join(sorted(ended))}), run again: complete, verified",
        f"{len(WAYS)} / {len(WAYS)} runs, {layouts} / {layouts} host layouts",
    )
    figures.add("interrupted", "cut downloads resumed with a Range request on the next run", f"{resumed} of {layouts}")
    figures.add(
        "interrupted",
        "seconds until every process of the play had ended, max",
        ", ".join(f"{name}: {max(times):.1f}" for name, times in sorted(ended.items())),
    )
    leftovers = os.listdir(os.path.join(ansible.workdir, "local_tmp")) + os.listdir(
        os.path.join(ansible.workdir, "remote_tmp")
    )
    figures.add(
        "interrupted",
        "Ansible's own temporary directories left by the signalled runs (ANSIBLE_LOCAL_TEMP/REMOTE_TEMP, not the "
        "layout)",
        f"{len(leftovers)}",
    )


# blob_fetch through its real entry point, in a process of its own (as Ansible runs it).
RUNNER = """
import json, sys
from ansible.module_utils.testing import patch_module_args
from ansible_collections.airgap.ecr.plugins.modules import blob_fetch
with patch_module_args(json.loads(sys.argv[1])):
    blob_fetch.main()
"""


def test_two_downloads_of_one_blob_at_once_leave_only_verified_files(tmp_path):
    data = hashlib.sha256(b"airgap.ecr").digest() * (1000000 // 32)
    digest = digest_of(data)
    dest = str(tmp_path / "layout")
    partial = os.path.join(dest, "blobs", "sha256", f".{digest[7:]}.partial")
    os.makedirs(os.path.dirname(partial))
    with open(partial, "wb") as handle:
        handle.write(data[:300000])  # a download cut by an interrupted run
    server = BlobServer()
    reached, release = threading.Event(), threading.Event()
    # The first request sends one chunk of blob_fetch's reads, then waits for ``release``.
    server.plan("blob", {"hold": CHUNK_SIZE, "reached": reached, "release": release})
    url = server.add("blob", data, query="")
    args = json.dumps(
        {"blobs": [{"digest": digest, "url": url, "size": len(data)}], "dest": dest, "retries": 0, "allow_http": True}
    )
    command = [sys.executable, "-c", RUNNER, args]
    processes = []
    try:
        # The first download resumes the .partial and stalls after one more chunk, as the module of an
        # interrupted play may.
        processes.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))  # pylint: disable=consider-using-with
        assert reached.wait(60) and wait_for(lambda: partial_size(partial) >= 300000 + CHUNK_SIZE, timeout=30)
        # The next run downloads the same blob meanwhile: it finishes, or waits for the first (then it
        # is let go after 5 s).
        processes.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))  # pylint: disable=consider-using-with
        wait_for(lambda: processes[1].poll() is not None, timeout=5)
        release.set()
        outcomes = [json.loads(process.communicate(timeout=120)[0]) for process in processes]
    finally:
        release.set()
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)
        server.close()
    assert server.requests()[0]["range"] == "bytes=300000-"
    summary = [outcome.get("msg") or outcome["blobs"][0]["status"] for outcome in outcomes]
    assert not unverified_final_files(dest), (summary, unverified_final_files(dest))
    assert os.path.isfile(os.path.join(dest, "blobs", "sha256", digest[7:])), summary
