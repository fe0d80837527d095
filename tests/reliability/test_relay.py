# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""image_fetch_via=relay with the real ansible-playbook: three local hosts, one of them the relay.

The relay host pulls each blob from S3 (the emulator) once and the others download from it; the relay is
stopped when the play ends. When the relay dies in the middle of the other hosts' downloads (it is
stopped with SIGSTOP once their download task has begun, so that their requests wait on it, then
killed), the play fails naming the relay, no unverified byte is at a final path, and a rerun completes.
When the relay host's first download fails because its URLs expired, it resolves every image set and platform
of the batch again and serves hosts of another platform too.
"""

import json
import os
import re
import signal
import socket
import time

import pytest

from ansible_collections.airgap.ecr.tests.emulator import images
from ansible_collections.airgap.ecr.tests.reliability.conftest import PLAYBOOK_TIMEOUT
from ansible_collections.airgap.ecr.tests.reliability.conftest import kill_play
from ansible_collections.airgap.ecr.tests.reliability.conftest import read_text
from ansible_collections.airgap.ecr.tests.reliability.conftest import role_play
from ansible_collections.airgap.ecr.tests.reliability.conftest import unverified_final_files
from ansible_collections.airgap.ecr.tests.reliability.conftest import verify_layout
from ansible_collections.airgap.ecr.tests.reliability.conftest import wait_for

HOSTS = ("host1", "host2", "host3")
# What the secret prefix of a relay URL looks like (43 URL-safe characters before /blobs/).
SECRET_URL_RE = re.compile(r"[A-Za-z0-9_-]{22,}/blobs/")
# The task just before the other hosts download from the relay.
DOWNLOAD_BANNER = "Stop when the relay host could not download the image or start the relay"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(name="home")
def home_fixture(tmp_path, monkeypatch):
    """A HOME of the test's own, where the relay's state files go (~/.ansible/airgap_ecr_relay)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def relay_play(emu, port, relay_host="host1", **role_vars):
    variables = dict(
        image_fetch_tag="1.0",
        image_fetch_via="relay",
        image_fetch_relay_host=relay_host,
        image_fetch_relay_address="127.0.0.1",
        image_fetch_relay_port=port,
    )
    variables.update(role_vars)
    return role_play(emu, **variables)


def blob_downloads(emu):
    """How many times each blob was downloaded from S3 (GetObject answered 200 or 206)."""
    counts = {}
    for entry in emu.requests():
        if entry["operation"] == "GetObject" and entry["status"] in (200, 206):
            digest = entry["params"]["key"].rsplit("/", 1)[-1].replace("%3A", ":")
            counts[digest] = counts.get(digest, 0) + 1
    return counts


def test_the_relay_host_pulls_once_and_serves_the_others(emu, ansible, tmp_path, demo, home):
    port = free_port()
    hosts = {name: {"dest": str(tmp_path / name)} for name in HOSTS}
    # The relay is not the first host: its own destination is served, not the first host's.
    run = ansible.run(relay_play(emu, port, relay_host="host2"), ansible.inventory(hosts))
    assert run.rc == 0, run
    for host in hosts.values():
        verify_layout(host["dest"], "1.0")
    blobs = [demo["config"]["digest"]] + [layer["digest"] for layer in demo["layers"]]
    assert blob_downloads(emu) == dict.fromkeys(blobs, 1), run  # once in all, not once per host
    assert not listening(port), "the relay still listens after the play"
    assert os.listdir(home / ".ansible" / "airgap_ecr_relay") == []
    assert not SECRET_URL_RE.search(run.text), "a relay URL is in the output"
    assert re.search(r"host2: 1 image\(s\) for linux/amd64 .* 4/4 blobs in place \(4 fetched", run.output), run
    assert re.search(r"host1: 1 image\(s\) for linux/amd64 .* 4/4 blobs in place \(4 fetched", run.output), run

    emu.reset()
    again = ansible.run(relay_play(emu, port, relay_host="host2"), ansible.inventory(hosts))
    assert again.rc == 0 and blob_downloads(emu) == {}, again
    assert re.search(r"host3 +: ok=\d+ +changed=0 ", again.output), again


def _relay_pid(home, port):
    path = home / ".ansible" / "airgap_ecr_relay" / f"relay-{port}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))["pid"]
    except (OSError, ValueError, KeyError):
        return None


def test_the_relay_dies_mid_play_then_a_rerun_completes(emu, ansible, tmp_path, demo, home):
    port = free_port()
    hosts = {name: {"dest": str(tmp_path / name)} for name in HOSTS}
    process, _log, output = ansible.start(relay_play(emu, port), ansible.inventory(hosts))
    try:
        assert wait_for(lambda: DOWNLOAD_BANNER in read_text(output), timeout=240, step=0.05), read_text(output)
        pid = _relay_pid(home, port)
        assert pid, read_text(output)
        os.kill(pid, signal.SIGSTOP)  # the other hosts' requests now wait on it
        time.sleep(4)
        os.kill(pid, signal.SIGKILL)
        process.wait(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
    text = read_text(output)
    assert process.returncode != 0, text
    assert "from the relay host host1 (http://127.0.0.1:" in text, text
    assert not SECRET_URL_RE.search(text), "a relay URL is in the output"
    verify_layout(hosts["host1"]["dest"], "1.0")
    for name in ("host2", "host3"):
        assert not unverified_final_files(hosts[name]["dest"])
        assert not os.path.exists(os.path.join(hosts[name]["dest"], "index.json"))

    emu.reset()
    run = ansible.run(relay_play(emu, port), ansible.inventory(hosts))
    assert run.rc == 0, run
    for host in hosts.values():
        verify_layout(host["dest"], "1.0")
    assert blob_downloads(emu) == {}, "the rerun pulled from S3 again: the relay host had every blob"
    assert not listening(port)


def test_check_mode_starts_no_relay_and_writes_nothing(emu, ansible, tmp_path, home):
    port = free_port()
    hosts = {name: {"dest": str(tmp_path / name)} for name in HOSTS}
    run = ansible.run(relay_play(emu, port), ansible.inventory(hosts), args=["--check"])
    assert run.rc == 0, run
    assert not any(os.path.exists(host["dest"]) for host in hosts.values())
    assert blob_downloads(emu) == {} and not listening(port)
    assert re.search(r"host2: 1 image\(s\) for linux/amd64 .*: would fetch 4 of 4 blobs", run.output), run


def test_the_relay_hosts_retry_serves_every_platform_of_the_batch(emu, ansible, tmp_path, home):
    """The relay host (amd64) downloads the blobs of both platforms of airgap/demo:multi; its URLs expire while the
    first blob is held up, so that download fails; the retry resolves both platforms again and downloads their
    union with the fresh URLs, and the arm64 host gets its blobs from the relay."""
    port = free_port()
    emu.config(url_ttl=5)
    # One download at a time, the first held up until the other URLs have expired.
    emu.faults(operation="GetObject", count=1, latency_ms=6000)
    hosts = {
        "host1": {"dest": str(tmp_path / "host1"), "image_fetch_platform": "linux/amd64"},
        "host2": {"dest": str(tmp_path / "host2"), "image_fetch_platform": "linux/arm64/v8"},
    }
    play = relay_play(emu, port, image_fetch_tag=images.DEMO_MULTI_TAG, image_fetch_concurrency=1)
    del play[0]["roles"][0]["image_fetch_platform"]  # a role parameter: each host's own comes from the inventory
    process, _log, output = ansible.start(play, ansible.inventory(hosts))
    try:
        # Once a download was refused as expired, the URLs of the refresh live long.
        refused = wait_for(lambda: [entry for entry in emu.requests() if entry["status"] == 403], timeout=180)
        assert refused, read_text(output)
        emu.config(url_ttl=3600)
        process.wait(timeout=PLAYBOOK_TIMEOUT)
    finally:
        if process.poll() is None:
            kill_play(process)
    text = read_text(output)
    assert process.returncode == 0, text
    for host in hosts.values():
        verify_layout(host["dest"], images.DEMO_MULTI_TAG)
    expired = [entry for entry in emu.requests() if entry["operation"] == "GetObject" and entry["status"] == 403]
    assert expired and all(entry["error_code"] == "AccessDenied" for entry in expired)
    assert not listening(port) and not SECRET_URL_RE.search(text)
