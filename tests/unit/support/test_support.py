# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The shared test helpers (tests/support/) do what their tests rely on."""

import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.ecr.tests.support.blob_server import BlobServer
from ansible_collections.airgap.ecr.tests.support.credentials import FULL_ACCESS_OPTIONS
from ansible_collections.airgap.ecr.tests.support.credentials import aws_options
from ansible_collections.airgap.ecr.tests.support.digests import digest_of
from ansible_collections.airgap.ecr.tests.support.digests import file_digest
from ansible_collections.airgap.ecr.tests.support.digests import make_data
from ansible_collections.airgap.ecr.tests.support.modules import ModuleDidNotExit
from ansible_collections.airgap.ecr.tests.support.modules import run_module
from ansible_collections.airgap.ecr.tests.support.modules import run_module_text

DATA = make_data(10_000, 1)


@pytest.fixture(name="server")
def server_fixture(monkeypatch):
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    with BlobServer() as server:
        server.add("blob", DATA)
        yield server


def get(url, headers=None):
    """(status, headers, body) of a GET, also for HTTP errors; urllib follows redirects.

    An opener of its own: ansible.module_utils.urls installs a global one (that of the last Request),
    which may not follow redirects, when other tests of the session have used it.
    """
    opener = urllib.request.build_opener()
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


@pytest.mark.parametrize(
    "header, status, content_range, body",
    [
        (None, 200, None, DATA),
        ("bytes=100-199", 206, "bytes 100-199/10000", DATA[100:200]),
        ("bytes=9000-", 206, "bytes 9000-9999/10000", DATA[9000:]),
        ("bytes=-7", 206, "bytes 9993-9999/10000", DATA[-7:]),
        ("bytes=10000-", 416, "bytes */10000", b""),
    ],
)
def test_ranges(server, header, status, content_range, body):
    got_status, headers, got_body = get(server.url("blob"), {"Range": header} if header else None)
    assert (got_status, headers.get("Content-Range"), got_body) == (status, content_range, body)
    assert server.requests("blob")[0]["range"] == header


def test_planned_faults_then_normal_answers(server):
    server.plan("blob", {"status": 503}, {"corrupt": True}, {"short": 10}, {"ignore_range": True})
    status, _headers, body = get(server.url("blob"))
    assert status == 503 and b"<Code>AccessDenied</Code>" in body
    assert digest_of(get(server.url("blob"))[2]) != digest_of(DATA)
    assert get(server.url("blob"))[2] == DATA[:10]
    assert get(server.url("blob"), {"Range": "bytes=5-"})[:3:2] == (200, DATA)
    assert get(server.url("blob"))[2] == DATA
    assert [entry["status"] for entry in server.requests()] == [503, 200, 200, 200, 200]


def test_cut_transfer_announces_everything(server):
    server.plan("blob", {"cut": 1000})
    with pytest.raises(Exception) as error:  # http.client.IncompleteRead, wrapped or not
        get(server.url("blob"))
    assert "IncompleteRead" in repr(error.value) or "1000 bytes read" in str(error.value)
    assert server.requests()[0]["sent"] == 1000


def test_redirect_to_another_name_or_url(server):
    server.add("other", b"other bytes")
    server.plan("blob", {"redirect": "other"}, {"redirect": server.url("other", query=""), "status": 307})
    assert get(server.url("blob"))[2] == b"other bytes"
    assert get(server.url("blob"))[2] == b"other bytes"
    assert [(entry["name"], entry["status"]) for entry in server.requests()] == [
        ("blob", 302),
        ("other", 200),
        ("blob", 307),
        ("other", 200),
    ]


def test_bytes_per_second_paces_each_request(server):
    big = make_data(1_000_000, 2)
    server.add("big", big)
    server.bytes_per_second = 2_000_000  # about half a second each, also two at once
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        bodies = list(pool.map(lambda _index: get(server.url("big"))[2], range(2)))
    elapsed = time.monotonic() - started
    assert bodies == [big, big] and 0.4 <= elapsed < 0.9, elapsed
    assert server.max_in_flight == 2


def test_hold_until_released(server):
    reached, release = threading.Event(), threading.Event()
    server.plan("blob", {"hold": 100, "reached": reached, "release": release})
    with ThreadPoolExecutor(max_workers=1) as pool:
        answer = pool.submit(get, server.url("blob"))
        assert reached.wait(10)
        time.sleep(0.2)
        assert not answer.done() and server.requests()[0]["sent"] == 100
        release.set()
        assert answer.result(timeout=10)[2] == DATA


def test_digests(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(DATA)
    assert file_digest(str(path)) == digest_of(DATA) and file_digest(str(path), "sha512") == digest_of(DATA, "sha512")
    assert digest_of(b"") == "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert make_data(100, 1) == DATA[:100] and make_data(100, 2) != make_data(100, 1)


def _echo_main():
    module = AnsibleModule(argument_spec={"name": {"type": "str"}}, supports_check_mode=True)
    if module.params["name"] == "fail":
        module.fail_json(msg="asked to fail")
    module.exit_json(changed=not module.check_mode, name=module.params["name"])


def _returning_main():
    AnsibleModule(argument_spec={})


def test_run_module():
    failed, result = run_module(_echo_main, name="x")
    assert not failed and result["changed"] and result["name"] == "x"
    failed, result, text = run_module_text(_echo_main, check_mode=True, name="fail")
    assert failed and result["msg"] == "asked to fail" and '"asked to fail"' in text
    assert run_module(_echo_main, check_mode=True)[1]["changed"] is False
    with pytest.raises(ModuleDidNotExit):
        run_module(_returning_main)


def test_aws_options():
    assert aws_options("http://127.0.0.1:1") == dict(
        FULL_ACCESS_OPTIONS, region="us-east-1", endpoint_url="http://127.0.0.1:1"
    )
    changed = aws_options("http://127.0.0.1:1", endpoint_url="http://127.0.0.1:2", secret_key=None, session_token="t")
    assert (
        changed["endpoint_url"] == "http://127.0.0.1:2"
        and "secret_key" not in changed
        and changed["session_token"] == "t"
    )
