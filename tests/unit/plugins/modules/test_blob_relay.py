# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""blob_relay through its real entry point: a real detached server process on 127.0.0.1, started and stopped."""

import json
import os
import secrets
import socket
import time
import urllib.request

import pytest

from ansible_collections.airgap.ecr.plugins.module_utils import relay_process
from ansible_collections.airgap.ecr.plugins.module_utils.layout import Layout
from ansible_collections.airgap.ecr.plugins.modules.blob_relay import main
from ansible_collections.airgap.ecr.tests.support.digests import digest_of as sha
from ansible_collections.airgap.ecr.tests.support.modules import run_module_text

DATA = b"relayed blob " * 1000


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(name="args")
def args_fixture(tmp_path):
    root = tmp_path / "layout"
    Layout(str(root)).write_blob(DATA)
    args = dict(
        path=str(root),
        address="127.0.0.1",
        port=free_port(),
        prefix=secrets.token_urlsafe(24),
        state_dir=str(tmp_path / "state"),
        idle_timeout=120,
    )
    yield args
    run_module_text(main, state="stopped", port=args["port"], state_dir=args["state_dir"])


DIGEST = sha(DATA)


def fetch(args, digest=DIGEST, prefix=None):
    url = f"http://127.0.0.1:{args['port']}/{prefix or args['prefix']}/blobs/{digest.replace(':', '/')}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=10) as response:
        return response.read()


def test_started_serves_until_stopped(args):
    failed, result, text = run_module_text(main, **args)
    assert not failed and result["changed"] and result["origin"] == f"http://127.0.0.1:{args['port']}"
    assert args["prefix"] not in text
    assert fetch(args) == DATA
    state_file = os.path.join(args["state_dir"], f"relay-{args['port']}.json")
    with open(state_file, encoding="utf-8") as handle:
        state = json.load(handle)
    assert state["pid"] == result["pid"] and args["prefix"] not in json.dumps(state)
    assert os.stat(args["state_dir"]).st_mode & 0o777 == 0o700

    failed, again, _text = run_module_text(main, **args)
    assert (failed, again["changed"], again["pid"]) == (False, False, result["pid"])

    failed, stopped, _text = run_module_text(main, state="stopped", port=args["port"], state_dir=args["state_dir"])
    assert (failed, stopped["changed"], stopped["was_running"], stopped["pid"]) == (False, True, True, result["pid"])
    assert relay_process.process_start_time(result["pid"]) is None
    assert not os.path.exists(state_file)
    with pytest.raises(OSError):
        fetch(args)
    failed, stopped, _text = run_module_text(main, state="stopped", port=args["port"], state_dir=args["state_dir"])
    assert (failed, stopped["changed"]) == (False, False)


def test_a_port_in_use_fails_clearly(args):
    with socket.create_server(("127.0.0.1", args["port"])):
        failed, result, text = run_module_text(main, **args)
    assert failed and f"port {args['port']} on 127.0.0.1 is in use by another process" in result["msg"]
    assert args["prefix"] not in text


def test_a_relay_of_another_prefix_is_replaced(args):
    first = run_module_text(main, **args)[1]
    old_prefix = args["prefix"]
    args["prefix"] = secrets.token_urlsafe(24)
    failed, second, _text = run_module_text(main, **args)
    assert (failed, second["changed"], second["replaced"]) == (False, True, first["pid"])
    assert relay_process.process_start_time(first["pid"]) is None
    assert fetch(args) == DATA
    with pytest.raises(urllib.error.HTTPError, match="404"):
        fetch(args, prefix=old_prefix)


def test_stopped_never_signals_a_process_that_reused_the_pid(args):
    # A state file naming this test's own pid with another start time: the relay it names is gone.
    relay_process.write_state(args["state_dir"], args["port"], dict(pid=os.getpid(), start_time=1))
    failed, result, _text = run_module_text(main, state="stopped", port=args["port"], state_dir=args["state_dir"])
    assert (failed, result["was_running"]) == (False, False)  # and this process is still alive to check it


def test_the_server_stops_by_itself_when_idle(args):
    args["idle_timeout"] = 1
    result = run_module_text(main, **args)[1]
    ends = time.monotonic() + 20
    while relay_process.process_start_time(result["pid"]) is not None and time.monotonic() < ends:
        time.sleep(0.2)
    assert relay_process.process_start_time(result["pid"]) is None
    assert relay_process.read_state(args["state_dir"], args["port"]) is None


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(prefix="short"), "prefix must be 22 to 128 URL-safe characters"),
        (dict(prefix="x" * 30 + "/.."), "prefix must be 22 to 128"),
        (dict(port=70000), "port 70000 is out of range"),
        (dict(idle_timeout=0), "idle_timeout 0 is out of range"),
        (dict(tls_cert="/nonexistent/cert.pem", tls_key="/nonexistent/key.pem"), "cannot be used"),
        (dict(address="192.0.2.77"), "is not an address of this host"),
        (dict(path="/nonexistent/layout"), "is not a directory"),
    ],
)
def test_bad_input_fails_clearly(args, change, message):
    args.update(change)
    failed, result, text = run_module_text(main, **args)
    assert failed and message in result["msg"]
    assert args["prefix"] not in text


def test_a_layout_another_user_could_change_is_refused(args):
    os.chmod(args["path"], 0o777)
    failed, result, _text = run_module_text(main, **args)
    assert failed and "writable by its group or by others" in result["msg"]
