# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The relay's HTTP server: a layout's blobs, read only, under a secret path prefix.

``RelayServer(sock, layout, prefix, ...)`` serves ``GET`` and ``HEAD`` of
``/<prefix>/blobs/<algorithm>/<hex>`` (single byte ranges too) from the layout's blob store through
the layout owner (``Layout.open_blob``: relative to the layout's directory descriptors, never
through a symlink). Every other path, method or digest is answered 404 with an empty body, and
nothing is logged: the prefix is a per-play secret. ``serve()`` returns when the server has been
idle for ``idle_timeout`` seconds or has run for ``lifetime`` seconds. The bytes are not checked
here: each receiving host verifies every blob against its digest. Standard library only: this runs
on target hosts.
"""

import hmac
import os
import re
import socket
import socketserver
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler

from ansible_collections.airgap.ecr.plugins.module_utils.layout_fs import LayoutError
from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_digest

# A per-play prefix: secrets.token_urlsafe() text, at least 128 bits of it.
PREFIX_RE = re.compile(r"^[A-Za-z0-9_-]{22,128}$")
_RANGE_RE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)
# The seconds a connection may stay silent, and the seconds between two looks at the limits.
CONNECTION_TIMEOUT = 60
WATCH_INTERVAL = 1.0
MAX_CONNECTIONS = 256


class Unsatisfiable(Exception):
    """A Range the blob cannot satisfy (answered 416)."""


def parse_range(header, size):
    """``(first, last)`` (inclusive) that a ``Range`` header asks of ``size`` bytes, or None for the whole blob.

    One range only: a header this server does not take (several ranges, another unit, a last byte
    before the first) is ignored, as RFC 9110 allows, and the whole blob is sent. A first byte at or
    beyond the end, or an empty suffix, raises Unsatisfiable.
    """
    match = _RANGE_RE.match(header or "")
    if not match or not (match.group(1) or match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if first:
        first = int(first)
        if last and int(last) < first:
            return None
        if first >= size:
            raise Unsatisfiable()
        return first, min(int(last) if last else size - 1, size - 1)
    suffix = int(last)
    if suffix == 0 or size == 0:
        raise Unsatisfiable()
    return max(0, size - suffix), size - 1


def blob_digest(path, prefix):
    """The digest that ``path`` names under ``/<prefix>/blobs/``, or None for any other path."""
    parts = path.split("/")
    if len(parts) != 5 or parts[0] != "" or parts[2] != "blobs":
        return None
    # The prefix is compared in constant time: a wrong guess tells nothing about the right one.
    if not hmac.compare_digest(parts[1].encode("utf-8", "replace"), prefix.encode("ascii")):
        return None
    digest = f"{parts[3]}:{parts[4]}"
    try:
        validate_digest(digest, option="path")
    except ValidationError:
        return None
    return digest


class RelayHandler(BaseHTTPRequestHandler):
    """GET and HEAD of a blob; 404 for everything else; no log, no body on errors."""

    server_version = "airgap.ecr-relay"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = CONNECTION_TIMEOUT

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        """Nothing is logged: a request line holds the secret prefix."""

    def send_error(self, code, message=None, explain=None):
        """An error answer without a body (the default one quotes the request)."""
        self.close_connection = True
        self.send_response_only(code)
        self.send_header("Content-Length", "0")
        self.send_header("Connection", "close")
        self.end_headers()

    def _empty(self, code, headers=()):
        self.send_response(code)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _not_found(self):
        self._empty(404)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _not_found

    def do_HEAD(self):
        self._serve(body=False)

    def do_GET(self):
        self._serve(body=True)

    def _serve(self, body):
        self.server.activity(+1)
        try:
            self._answer(body)
        except (ConnectionError, socket.timeout, ssl.SSLError):
            self.close_connection = True
        finally:
            self.server.activity(-1)

    def _answer(self, body):
        digest = blob_digest(self.path, self.server.prefix)
        if digest is None:
            self._not_found()
            return
        try:
            blob = self.server.layout.open_blob(digest)
        except (OSError, LayoutError):  # missing, a symlink, not a regular file, unreadable
            self._not_found()
            return
        with blob:
            size = os.fstat(blob.fileno()).st_size
            try:
                wanted = parse_range(self.headers.get("Range"), size)
            except Unsatisfiable:
                self._empty(416, [("Content-Range", f"bytes */{size}")])
                return
            first, last = wanted if wanted else (0, size - 1)
            self.send_response(206 if wanted else 200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Docker-Content-Digest", digest)
            if wanted:
                self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
            self.send_header("Content-Length", str(last - first + 1))
            self.end_headers()
            if body and last >= first:
                self.wfile.flush()
                self.connection.sendfile(blob, offset=first, count=last - first + 1)
                self.server.served(last - first + 1)


class RelayServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """The relay on an already bound and listening socket ``sock`` (TLS when ``tls_context`` is given)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, sock, layout, prefix, tls_context=None, idle_timeout=900, lifetime=21600):
        if not PREFIX_RE.match(prefix or ""):
            raise ValueError("the prefix must be 22 to 128 URL-safe characters (secrets.token_urlsafe())")
        super().__init__(sock.getsockname()[:2], RelayHandler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.address_family = sock.family
        self.layout = layout
        self.prefix = prefix
        self.tls_context = tls_context
        self.idle_timeout = idle_timeout
        self.lifetime = lifetime
        self.started = self.last_activity = time.monotonic()
        self.active = 0
        self.bytes_served = 0
        self.requests = 0
        self._counter = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def activity(self, step):
        with self._counter:
            self.active += step
            self.requests += step > 0
            self.last_activity = time.monotonic()

    def served(self, count):
        with self._counter:
            self.bytes_served += count

    def expired(self):
        """Why the server should stop now (idle or too old), or None."""
        now = time.monotonic()
        with self._counter:
            if now - self.started >= self.lifetime:
                return "lifetime"
            if self.active == 0 and now - self.last_activity >= self.idle_timeout:
                return "idle"
        return None

    def process_request(self, request, client_address):
        self._slots.acquire()  # at most MAX_CONNECTIONS at once; the others wait in the listen backlog
        try:
            super().process_request(request, client_address)
        except Exception:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def finish_request(self, request, client_address):
        request.settimeout(CONNECTION_TIMEOUT)
        if self.tls_context is not None:
            # The handshake runs in the connection's thread: a slow client does not hold up the others.
            request = self.tls_context.wrap_socket(request, server_side=True)
        self.activity(0)
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        """Nothing is printed: a client that goes away mid-answer is not an error of the relay."""

    def serve(self):
        """Serve until idle or too old; returns why it stopped (``"idle"`` or ``"lifetime"``)."""
        reason = []

        def watch():
            while not reason:
                time.sleep(min(WATCH_INTERVAL, max(self.idle_timeout, 0.05)))
                why = self.expired()
                if why:
                    reason.append(why)
                    self.shutdown()

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        self.serve_forever(poll_interval=0.2)
        self.server_close()
        return reason[0] if reason else "shutdown"
