# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The relay's HTTP server on 127.0.0.1, in a thread of the test, over a layout in a temporary directory."""

import http.client
import os
import secrets
import socket
import ssl
import threading
import time

import pytest

from ansible_collections.airgap.ecr.plugins.module_utils import relay_server
from ansible_collections.airgap.ecr.plugins.module_utils.layout import Layout
from ansible_collections.airgap.ecr.plugins.module_utils.relay_server import RelayServer
from ansible_collections.airgap.ecr.plugins.module_utils.relay_server import Unsatisfiable
from ansible_collections.airgap.ecr.plugins.module_utils.relay_server import blob_digest
from ansible_collections.airgap.ecr.plugins.module_utils.relay_server import parse_range
from ansible_collections.airgap.ecr.tests.support.digests import digest_of as sha
from ansible_collections.airgap.ecr.tests.support.tls import self_signed_certificate

DATA = bytes(range(256)) * 40  # 10240 bytes
OTHER = b"a blob outside the layout"


class Relay:
    """A RelayServer on a free port of 127.0.0.1, serving in a thread; ``request()`` asks it something."""

    def __init__(self, root, tls=None, idle_timeout=60):
        self.prefix = secrets.token_urlsafe(24)
        sock = socket.create_server(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self.tls = tls
        self.server = RelayServer(sock, Layout(str(root)), self.prefix, tls, idle_timeout=idle_timeout, lifetime=600)
        self.reason = []
        self.thread = threading.Thread(target=lambda: self.reason.append(self.server.serve()), daemon=True)
        self.thread.start()

    def path(self, digest):
        return f"/{self.prefix}/blobs/{digest.replace(':', '/')}"

    def request(self, path, method="GET", headers=None):
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            connection = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=10, context=context)
        else:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def stop(self):
        if self.thread.is_alive():
            self.server.shutdown()
        self.thread.join(10)


@pytest.fixture(name="layout_dir")
def layout_fixture(tmp_path):
    root = tmp_path / "layout"
    Layout(str(root)).write_blob(DATA)
    return root


@pytest.fixture(name="relay")
def relay_fixture(layout_dir):
    relay = Relay(layout_dir)
    yield relay
    relay.stop()


def test_get_and_head_of_a_blob(relay):
    status, headers, body = relay.request(relay.path(sha(DATA)))
    assert (status, body, headers["Content-Length"], headers["Accept-Ranges"]) == (200, DATA, str(len(DATA)), "bytes")
    status, headers, body = relay.request(relay.path(sha(DATA)), method="HEAD")
    assert (status, body, headers["Content-Length"]) == (200, b"", str(len(DATA)))
    # The server counts a body once sendfile() has returned, which may be just after the client has it all.
    ends = time.monotonic() + 5
    while relay.server.bytes_served < len(DATA) and time.monotonic() < ends:
        time.sleep(0.01)
    assert relay.server.bytes_served == len(DATA)


@pytest.mark.parametrize(
    "header, content_range, first, last",
    [
        ("bytes=0-99", "bytes 0-99/10240", 0, 99),
        ("bytes=10000-", "bytes 10000-10239/10240", 10000, 10239),
        ("bytes=10000-99999", "bytes 10000-10239/10240", 10000, 10239),
        ("bytes=-40", "bytes 10200-10239/10240", 10200, 10239),
        ("bytes=-99999", "bytes 0-10239/10240", 0, 10239),
    ],
)
def test_ranges(relay, header, content_range, first, last):
    status, headers, body = relay.request(relay.path(sha(DATA)), headers={"Range": header})
    assert (status, headers["Content-Range"], body) == (206, content_range, DATA[first : last + 1])


@pytest.mark.parametrize("header", ["bytes=10240-", "bytes=99999-100000", "bytes=-0"])
def test_a_range_beyond_the_end_is_416(relay, header):
    status, headers, body = relay.request(relay.path(sha(DATA)), headers={"Range": header})
    assert (status, headers["Content-Range"], body) == (416, "bytes */10240", b"")


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "lines=0-1", "bytes=9-3", "bytes=-", "nonsense"])
def test_a_range_it_does_not_take_is_ignored(relay, header):
    status, _headers, body = relay.request(relay.path(sha(DATA)), headers={"Range": header})
    assert (status, body) == (200, DATA)


def test_parse_range_directly():
    assert parse_range(None, 10) is None
    assert parse_range("bytes=2-3", 10) == (2, 3)
    with pytest.raises(Unsatisfiable):
        parse_range("bytes=0-", 0)


def _not_found_paths(prefix, digest):
    hex_ = digest.split(":")[1]
    return [
        "/",
        f"/{prefix}",
        f"/{prefix}/",
        f"/{prefix}/index.json",
        f"/{prefix}/oci-layout",
        f"/{prefix}/blobs/sha256",
        f"/{prefix}/blobs/sha256/",
        f"/{prefix}/blobs/sha256/{hex_}/",
        f"/{prefix}/blobs/sha256/{hex_}?x=1",
        f"/{prefix}/blobs/sha256/{hex_.upper()}",
        f"/{prefix}/blobs/sha256/{hex_[:-1]}",
        f"/{prefix}/blobs/md5/{hex_}",
        f"/{prefix}/blobs/sha256/../sha256/{hex_}",
        f"/{prefix}/blobs/sha256/{'0' * 64}",
        f"/{prefix}x/blobs/sha256/{hex_}",
        f"/{prefix[:-1]}/blobs/sha256/{hex_}",
        f"/blobs/sha256/{hex_}",
        f"/{prefix}/{prefix}/blobs/sha256/{hex_}",
        f"/{secrets.token_urlsafe(24)}/blobs/sha256/{hex_}",
    ]


def test_everything_else_is_404_with_an_empty_body(relay):
    for path in _not_found_paths(relay.prefix, sha(DATA)):
        status, _headers, body = relay.request(path)
        assert (path, status, body) == (path, 404, b"")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
def test_other_methods_are_404(relay, method):
    status, _headers, body = relay.request(relay.path(sha(DATA)), method=method)
    assert (status, body) == (404, b"")


def test_blob_digest_takes_only_the_exact_form():
    prefix = "p" * 22
    assert blob_digest(f"/{prefix}/blobs/sha256/{'a' * 64}", prefix) == f"sha256:{'a' * 64}"
    assert blob_digest(f"/{prefix}/blobs/sha512/{'a' * 128}", prefix) == f"sha512:{'a' * 128}"
    assert blob_digest(f"/{prefix}/blobs/sha256/{'a' * 63}", prefix) is None
    assert blob_digest(f"/{'q' * 22}/blobs/sha256/{'a' * 64}", prefix) is None


def test_a_symlink_planted_in_blobs_is_refused(tmp_path, layout_dir, relay):
    outside = tmp_path / "outside"
    outside.write_bytes(OTHER)
    os.symlink(outside, layout_dir / "blobs" / "sha256" / sha(OTHER).split(":")[1])
    status, _headers, body = relay.request(relay.path(sha(OTHER)))
    assert (status, body) == (404, b"")


def test_a_symlinked_blob_directory_is_refused(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    Layout(str(elsewhere)).write_blob(OTHER)
    root = tmp_path / "layout"
    (root / "blobs").mkdir(parents=True)
    os.symlink(elsewhere / "blobs" / "sha256", root / "blobs" / "sha256")
    relay = Relay(root)
    try:
        status, _headers, body = relay.request(relay.path(sha(OTHER)))
    finally:
        relay.stop()
    assert (status, body) == (404, b"")


def test_a_partial_download_is_not_served(layout_dir, relay):
    (layout_dir / "blobs" / "sha256" / f".{sha(OTHER).split(':')[1]}.partial").write_bytes(OTHER)
    assert relay.request(relay.path(sha(OTHER)))[0] == 404
    assert relay.request(f"/{relay.prefix}/blobs/sha256/.{sha(OTHER).split(':')[1]}.partial")[0] == 404


def test_the_prefix_is_never_printed(capfd, relay):
    relay.request(relay.path(sha(DATA)))
    relay.request(f"/{relay.prefix}/nothing")
    with socket.create_connection(("127.0.0.1", relay.port)) as raw:  # a malformed request line
        raw.sendall(f"GET /{relay.prefix}/ HTTP/9.9 junk\r\n\r\n".encode())
        answer = raw.recv(4096)
    out, err = capfd.readouterr()
    assert relay.prefix not in out + err
    assert relay.prefix.encode() not in answer


def test_it_stops_when_idle(layout_dir, monkeypatch):
    monkeypatch.setattr(relay_server, "WATCH_INTERVAL", 0.05)
    relay = Relay(layout_dir, idle_timeout=0.3)
    assert relay.request(relay.path(sha(DATA)))[0] == 200
    relay.thread.join(10)
    assert relay.reason == ["idle"]
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", relay.port), timeout=2)


def test_it_stops_at_its_lifetime_even_when_busy(layout_dir, monkeypatch):
    monkeypatch.setattr(relay_server, "WATCH_INTERVAL", 0.05)
    relay = Relay(layout_dir)
    relay.server.lifetime = 0.5
    started = time.monotonic()
    while relay.thread.is_alive() and time.monotonic() - started < 10:
        try:
            relay.request(relay.path(sha(DATA)), method="HEAD")
        except OSError:  # the server closed its socket between two requests
            pass
    assert relay.reason == ["lifetime"]


def test_a_bad_prefix_is_refused(layout_dir):
    sock = socket.create_server(("127.0.0.1", 0))
    with sock, pytest.raises(ValueError, match="22 to 128"):
        RelayServer(sock, Layout(str(layout_dir)), "short")


@pytest.fixture(name="certificate")
def certificate_fixture(tmp_path):
    return self_signed_certificate(tmp_path)


def test_tls(layout_dir, certificate):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    relay = Relay(layout_dir, tls=context)
    try:
        status, headers, body = relay.request(relay.path(sha(DATA)), headers={"Range": "bytes=1-2"})
        assert (status, headers["Content-Range"], body) == (206, "bytes 1-2/10240", DATA[1:3])
        relay.tls = None  # plain HTTP to a TLS relay gets no blob
        with pytest.raises((http.client.HTTPException, OSError)):
            relay.request(relay.path(sha(DATA)))
    finally:
        relay.stop()
