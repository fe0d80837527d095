# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Security of the download side (issue 15, findings 3, 5, 10 and 14), through the modules' real entry point.

Hostile or broken endpoints are small servers on 127.0.0.1 started here (http and https with a
certificate made for the test); the layout runs out of space on a small tmpfs. Each test is the
attack or the fault, and what must hold: no URL in any result, nothing contacted that should not
be, nothing left behind, no task kept alive past its deadline.
"""

import hashlib
import http.server
import json
import os
import ssl
import subprocess
import threading
import time

import pytest

from ansible_collections.airgap.ecr.plugins.module_utils.download_http import scrub
from ansible_collections.airgap.ecr.plugins.modules import blob_fetch
from ansible_collections.airgap.ecr.plugins.modules import oci_layout
from ansible_collections.airgap.ecr.tests.reliability.conftest import run_module
from ansible_collections.airgap.ecr.tests.reliability.conftest import scaled
from ansible_collections.airgap.ecr.tests.reliability.conftest import stray_files
from ansible_collections.airgap.ecr.tests.support.tls import self_signed_certificate

SIGNATURE = "X-Amz-Signature=5ec2e7f00d0b5ec2e7f00d0b5ec2e7f00d0b5ec2e7f00d0b5ec2e7f00d0b"
SECRET_PARTS = ("5ec2e7f00d0b", "X-Amz-Signature=5")


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def no_secret(value):
    text = value if isinstance(value, str) else json.dumps(value)
    return not any(part in text for part in SECRET_PARTS)


class Endpoint:
    """An HTTP(S) server on 127.0.0.1 with routes: ``blob`` (bytes), ``redirect`` (a Location), ``trickle``
    (slow bytes).

    ``log`` keeps ``(path, headers)`` of every request; ``connections`` counts accepted connections.
    """

    def __init__(self, context=None, host="127.0.0.1"):
        self.routes = {}
        self.log = []
        self.connections = 0
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # pylint: disable=arguments-differ
                pass

            def do_GET(self):  # pylint: disable=invalid-name
                path = self.path.split("?", 1)[0]
                endpoint.log.append((path, dict(self.headers)))
                try:
                    endpoint.answer(self, endpoint.routes.get(path, ("missing",)))
                except (BrokenPipeError, ConnectionResetError):
                    pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                sock, address = super().get_request()
                endpoint.connections += 1
                if context is not None:
                    sock = context.wrap_socket(sock, server_side=True)
                return sock, address

        self.httpd = Server(("127.0.0.1", 0), Handler)
        scheme = "https" if context else "http"
        self.base = f"{scheme}://{host}:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True).start()

    def route(self, path, *action):
        self.routes[path] = action
        return f"{self.base}{path}?{SIGNATURE}"

    @staticmethod
    def answer(request, action):
        kind = action[0]
        if kind == "redirect":
            request.send_response(302)
            request.send_header("Location", action[1])
            request.send_header("Content-Length", "0")
            request.end_headers()
            return
        if kind == "missing":
            request.send_response(404)
            request.send_header("Content-Length", "0")
            request.end_headers()
            return
        data = action[1]
        request.send_response(200)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        if kind == "blob":
            request.wfile.write(data)
            return
        for offset in range(len(data)):  # trickle: one byte every action[2] seconds
            request.wfile.write(data[offset : offset + 1])
            request.wfile.flush()
            time.sleep(action[2])

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(name="endpoint")
def endpoint_fixture():
    server = Endpoint()
    yield server
    server.close()


@pytest.fixture(name="certificate", scope="module")
def certificate_fixture(tmp_path_factory):
    """``(cert, key)`` paths of a self-signed certificate for 127.0.0.1."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(name="tls_endpoint")
def tls_endpoint_fixture(certificate):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    server = Endpoint(context=context)
    yield server
    server.close()


def fetch(dest, blobs, **options):
    return run_module(blob_fetch.main, blobs=blobs, dest=str(dest), **options)


# --------------------------------------------------------------------------- 3: URLs masked whatever Ansible rejects


def rejected_arguments(url, digest):
    good = {"digest": digest, "url": url}
    return {
        "option name typo at top level": dict(blob=[good]),
        "option name typo in an entry": dict(blobs=[{"digest": digest, "urll": url}]),
        "download_url typo in an entry": dict(blobs=[{"layer_digest": digest, "downloadurl": url}]),
        "a wrong type next to the URLs": dict(blobs=[good], retries="many"),
        "a wrong type of an entry's value": dict(blobs=[dict(good, foreign="perhaps")]),
        "a missing option": dict(blobs=[good], dest=None),
        "a string entry": dict(blobs=[good, url]),
    }


@pytest.mark.parametrize("case", list(rejected_arguments("u", "d")))
@pytest.mark.parametrize("main", [blob_fetch.main, oci_layout.main], ids=["blob_fetch", "oci_layout"])
def test_urls_masked_when_the_arguments_are_rejected(tmp_path, main, case):
    url = f"https://bucket.example.invalid/blobs/1?X-Amz-Credential=AKIDSECURITYTEST&{SIGNATURE}"
    args = dict(dest=str(tmp_path), allow_http=False)
    if main is oci_layout.main:
        args.update(manifest="{}", ref_name="1.0")
    args.update(rejected_arguments(url, "sha256:" + "a" * 64)[case])
    for no_log in (False, True):
        failed, result = run_module(main, _ansible_no_log=no_log, **{k: v for k, v in args.items() if v is not None})
        assert failed and result["msg"], result
        assert (
            no_secret(result)
            and "AKIDSECURITYTEST" not in json.dumps(result)
            and "bucket.example" not in json.dumps(result)
        ), result
        assert "invocation" in result
    if case == "a string entry":
        assert "every entry of blobs must be a dict with a digest and a url" in result["msg"]


# --------------------------------------------------------------------------- 10: http, redirects, headers


def test_http_url_refused_unless_allowed(endpoint, tmp_path):
    data = b"plain http blob"
    url = endpoint.route("/b", "blob", data)
    failed, result = fetch(tmp_path, [{"digest": digest_of(data), "url": url}])
    assert failed and f"blobs[0].url (for {digest_of(data)}) is a plain http URL" in result["msg"]
    assert "allow_http" in result["msg"] and endpoint.log == [] and no_secret(result)
    failed, result = fetch(tmp_path, [{"digest": digest_of(data), "url": url}], allow_http=True)
    assert not failed and result["fetched"] == 1


def test_https_to_http_redirect_is_refused(tls_endpoint, endpoint, certificate, tmp_path):
    data = b"downgraded"
    target = endpoint.route("/plain", "blob", data)
    url = tls_endpoint.route("/start", "redirect", target)
    failed, result = fetch(
        tmp_path, [{"digest": digest_of(data), "url": url}], ca_path=certificate[0], allow_http=True, retries=2
    )
    assert failed and "a redirect from https to http is refused" in result["failures"][0]["error"]
    assert endpoint.log == [], "the http target is never contacted"
    assert len(tls_endpoint.log) == 1, "not retried"
    assert no_secret(result)


@pytest.mark.parametrize("location", ["ftp://127.0.0.1:1/blob", "file:///etc/passwd", "gopher://127.0.0.1:1/x"])
def test_redirect_to_another_scheme_is_refused(endpoint, tmp_path, location):
    url = endpoint.route("/start", "redirect", location)
    failed, result = fetch(tmp_path, [{"digest": digest_of(b"x"), "url": url}], allow_http=True, retries=2)
    assert failed and "a redirect target is not an http(s) URL" in result["failures"][0]["error"]
    assert len(endpoint.log) == 1 and no_secret(result)
    assert os.listdir(tmp_path / "blobs" / "sha256") == []


def test_user_headers_not_forwarded_to_another_host(tmp_path):
    origin, other = Endpoint(), Endpoint(host="localhost")  # same address, another host name: another origin
    try:
        data = b"moved"
        target = other.route("/blob", "blob", data)
        hop = origin.route("/hop", "redirect", target)
        url = origin.route("/start", "redirect", hop)  # a redirect on the same origin keeps the headers
        headers = {"Authorization": "Bearer origin-only-token", "X-Tenant": "t1"}
        failed, result = fetch(tmp_path, [{"digest": digest_of(data), "url": url}], allow_http=True, headers=headers)
        assert not failed and result["fetched"] == 1, result
        assert [entry[1].get("Authorization") for entry in origin.log] == ["Bearer origin-only-token"] * 2
        assert len(other.log) == 1 and "Authorization" not in other.log[0][1] and "X-Tenant" not in other.log[0][1]
    finally:
        origin.close()
        other.close()


# --------------------------------------------------------------------------- 14: scrubber, IPv6 URL, TLS failures


@pytest.mark.parametrize(
    "text",
    [
        f"request failed: X-Amz-Signature= {SIGNATURE[16:]}",
        f"X-Amz-Signature =\n{SIGNATURE[16:]} was wrong",
        f"header Signature: {SIGNATURE[16:]}",
        f"GET /b?X-Amz-Signature%3D{SIGNATURE[16:]}",
    ],
)
def test_scrubber_hides_a_signature_after_blanks(text):
    assert not any(part in scrub(text) for part in SECRET_PARTS[:1]), scrub(text)


def test_invalid_ipv6_url_is_a_message(tmp_path):
    digest = "sha256:" + "b" * 64
    for url in (
        f"https://[::1/blob?{SIGNATURE}",
        f"https://[fe80::zz]/blob?{SIGNATURE}",
        f"https://127.0.0.1:99999/b?{SIGNATURE}",
    ):
        failed, result = fetch(tmp_path, [{"digest": digest, "url": url}])
        assert failed and f"blobs[0].url (for {digest}) is not a valid URL" in result["msg"], result
        assert "Traceback" not in json.dumps(result) and no_secret(result)


def test_tls_verification_failure_is_not_retried(tls_endpoint, certificate, tmp_path):
    data = b"tls"
    url = tls_endpoint.route("/b", "blob", data)
    failed, result = fetch(tmp_path, [{"digest": digest_of(data), "url": url}], retries=3)
    error = result["failures"][0]["error"]
    assert failed and "TLS certificate verification failed" in error and "after" not in error
    assert tls_endpoint.connections == 1 and no_secret(result)
    # The same server with its certificate trusted: fetched.
    failed, result = fetch(tmp_path, [{"digest": digest_of(data), "url": url}], ca_path=certificate[0])
    assert not failed and result["fetched"] == 1


def test_validate_certs_false_accepts_an_unknown_certificate(tls_endpoint, tmp_path):
    data = b"tls, not verified"
    url = tls_endpoint.route("/b", "blob", data)
    failed, result = fetch(tmp_path, [{"digest": digest_of(data), "url": url}], validate_certs=False)
    assert not failed and result["fetched"] == 1, result


@pytest.mark.parametrize("use_proxy", [True, False])
def test_proxy_from_the_environment_unless_use_proxy_is_false(endpoint, monkeypatch, tmp_path, use_proxy):
    data = b"through a proxy or not"
    url = endpoint.route("/b", "blob", data)
    proxy = Endpoint()  # answers 404 to anything: a proxied request fails, and its request line is in the log
    try:
        monkeypatch.setenv("http_proxy", proxy.base)
        for name in ("no_proxy", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        failed, result = fetch(
            tmp_path, [{"digest": digest_of(data), "url": url}], allow_http=True, use_proxy=use_proxy, retries=0
        )
    finally:
        proxy.close()
    if use_proxy:
        assert failed and "HTTP 404" in result["failures"][0]["error"], result
        assert [path for path, _headers in proxy.log] == [endpoint.base + "/b"]
    else:
        assert not failed and result["fetched"] == 1 and not proxy.log, result
    assert no_secret(result)


# --------------------------------------------------------------------------- 5: bounds


def test_blob_without_size_is_capped(endpoint, tmp_path):
    data = os.urandom(200_000)
    url = endpoint.route("/big", "blob", data)
    failed, result = fetch(
        tmp_path, [{"digest": digest_of(data), "url": url}], allow_http=True, max_size=100_000, retries=2
    )
    assert failed and "more than max_size (100000 bytes)" in result["failures"][0]["error"]
    assert len(endpoint.log) == 1 and result["bytes"] == 0 and stray_files(tmp_path) == []
    failed, result = fetch(
        tmp_path, [{"digest": digest_of(data), "url": url, "size": len(data)}], allow_http=True, max_size=100_000
    )
    assert not failed, "a blob of given size is not capped"


def test_trickling_server_is_stopped_by_the_deadline(endpoint, tmp_path):
    data = os.urandom(scaled(60, 120))
    url = endpoint.route("/slow", "trickle", data, 0.25)  # 15 s (30 s) in all, never 3 s without a byte
    started = time.monotonic()
    failed, result = fetch(
        tmp_path, [{"digest": digest_of(data), "url": url}], allow_http=True, timeout=3, deadline=2, retries=2
    )
    elapsed = time.monotonic() - started
    assert failed and "deadline of 2 seconds" in result["failures"][0]["error"]
    assert elapsed < 6, f"the task took {elapsed:.1f}s"
    assert len(endpoint.log) == 1, "the deadline is not retried"


@pytest.fixture(name="small_fs")
def small_fs_fixture(tmp_path):
    """A 1 MiB tmpfs (root only; skipped otherwise)."""
    mount = tmp_path / "small"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True, check=False
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {result.stderr.decode(errors='replace').strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=False)


def test_free_space_is_checked_before_any_request(endpoint, small_fs):
    data = os.urandom(2 * 1024 * 1024)
    url = endpoint.route("/big", "blob", data)
    failed, result = fetch(
        small_fs / "layout", [{"digest": digest_of(data), "url": url, "size": len(data)}], allow_http=True
    )
    assert failed and f"the blobs to download need {len(data)} bytes, but the file system of" in result["msg"]
    assert endpoint.log == [] and not (small_fs / "layout").exists()


def test_no_partial_left_after_running_out_of_space(endpoint, small_fs):
    data = os.urandom(2 * 1024 * 1024)
    url = endpoint.route("/big", "blob", data)
    failed, result = fetch(small_fs / "layout", [{"digest": digest_of(data), "url": url}], allow_http=True, retries=2)
    assert failed and "No space left on device" in result["failures"][0]["error"]
    assert len(endpoint.log) == 1, "a local write error is not retried"
    assert stray_files(small_fs) == [] and os.listdir(small_fs / "layout" / "blobs" / "sha256") == []
