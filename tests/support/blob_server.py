# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tests' one blob HTTP server: blobs by name on 127.0.0.1, with Range and planned faults.

``add(name, data)`` serves ``data`` at ``/<name>?<query>`` and returns that URL;
``plan(name, *actions)`` queues one action per request for ``name`` (then requests are
served normally); ``plan(name, *actions, range="bytes=A-B")`` queues them for the requests of
``name`` with that ``Range`` header only (they come first). Actions (combine keys as needed):

* ``{"status": 403}``: answer that status with an S3-style XML error body (``"body"`` replaces it);
* ``{"redirect": target, "status": 302}``: redirect to another blob's name, or to a full URL;
* ``{"corrupt": True}``: every byte flipped, same length;
* ``{"cut": N}``: announce the whole answer, send N bytes, close the connection;
* ``{"short": N}``: announce and send only the first N bytes of the answer;
* ``{"ignore_range": True}``: answer 200 with the whole blob to a Range request;
* ``{"delay": seconds}``: wait before answering;
* ``{"bytes_per_second": N}``: send the body no faster than N bytes per second;
* ``{"hold": N, "reached": Event, "release": Event}``: send N bytes, set ``reached``, wait
  (up to 60 s) for ``release``, then send the rest.

Attributes: ``blobs`` (name -> bytes, may be changed), ``log`` (one entry per request: name,
path, range, status, sent, headers), ``delay`` and ``bytes_per_second`` (for every request),
``in_flight`` / ``max_in_flight``. Ranges, corruption and pacing are the emulator's own
(tests/emulator/service/ranges.py): ``bytes=a-b``, ``bytes=a-`` and ``bytes=-n``.
"""

import http.server
import threading
import time

from ansible_collections.airgap.ecr.tests.emulator.service.ranges import RangeNotSatisfiable
from ansible_collections.airgap.ecr.tests.emulator.service.ranges import content_range
from ansible_collections.airgap.ecr.tests.emulator.service.ranges import corrupted
from ansible_collections.airgap.ecr.tests.emulator.service.ranges import paced
from ansible_collections.airgap.ecr.tests.emulator.service.ranges import parse_range

ERROR_BODY = b"<?xml version='1.0'?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
RELEASE_TIMEOUT = 60


class BlobServer:
    """A threading HTTP server of named blobs (module docstring); also a context manager."""

    def __init__(self, query="X-Amz-Signature=blob-server-signature"):
        self.query = query
        self.blobs = {}
        self.actions = {}
        self.log = []
        self.delay = 0.0
        self.bytes_per_second = None
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
        self.thread.start()

    @property
    def port(self):
        return self.httpd.server_address[1]

    def url(self, name, query=None):
        query = self.query if query is None else query
        return f"http://127.0.0.1:{self.port}/{name}" + (f"?{query}" if query else "")

    def add(self, name, data, query=None):
        self.blobs[name] = data
        return self.url(name, query)

    def plan(self, name, *actions, range=None):  # pylint: disable=redefined-builtin
        with self.lock:
            self.actions.setdefault(name if range is None else (name, range), []).extend(actions)

    def requests(self, name=None):
        return [entry for entry in self.log if name is None or entry["name"] == name]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def serve(self, request):
        """Answer one GET (``request`` is the handler)."""
        name = request.path.split("?", 1)[0].lstrip("/")
        range_header = request.headers.get("Range")
        with self.lock:
            queue = self.actions.get((name, range_header)) or self.actions.get(name) or []
            action = queue.pop(0) if queue else {}
        entry = {
            "name": name,
            "path": request.path,
            "range": range_header,
            "sent": 0,
            "status": None,
            "headers": dict(request.headers),
        }
        self.log.append(entry)
        time.sleep(self.delay + action.get("delay", 0))
        data = self.blobs.get(name)
        if "redirect" in action:
            target = action["redirect"]
            location = target if "://" in target else self.url(target)
            return _answer(request, entry, action.get("status", 302), b"", {"Location": location})
        if data is None or "status" in action:
            return _answer(request, entry, action.get("status", 404), action.get("body", ERROR_BODY))
        if action.get("corrupt"):
            data = corrupted(data)
        return self._send_blob(request, entry, action, data)

    def _send_blob(self, request, entry, action, data):
        size = len(data)
        headers = {"Accept-Ranges": "bytes"}
        status = 200
        try:
            span = None if action.get("ignore_range") else parse_range(entry["range"], size)
        except RangeNotSatisfiable:
            return _answer(request, entry, 416, b"", {"Content-Range": f"bytes */{size}"})
        if span is not None:
            status, headers["Content-Range"] = 206, content_range(span, size)
            data = data[span[0] : span[1] + 1]
        if "short" in action:
            data = data[: action["short"]]
        announced = len(data)
        if "cut" in action:
            data = data[: action["cut"]]
            request.close_connection = True
        rate = action.get("bytes_per_second") or self.bytes_per_second
        return _answer(request, entry, status, data, headers, announced=announced, rate=rate, hold=action)


def _answer(request, entry, status, body, headers=None, announced=None, rate=None, hold=None):
    """Send one answer and record it in ``entry``."""
    entry["status"] = status
    request.send_response(status)
    for name, value in (headers or {}).items():
        request.send_header(name, value)
    request.send_header("Content-Length", str(len(body) if announced is None else announced))
    request.end_headers()
    if hold and "hold" in hold:
        _write(request, entry, body[: hold["hold"]], rate)
        hold["reached"].set()
        hold["release"].wait(RELEASE_TIMEOUT)
        body = body[hold["hold"] :]
    _write(request, entry, body, rate)


def _write(request, entry, body, rate):
    for piece in paced(body, rate) if rate else [body]:
        request.wfile.write(piece)
        request.wfile.flush()
        entry["sent"] += len(piece)


def _handler_class(server):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # pylint: disable=arguments-differ
            pass

        def do_GET(self):  # pylint: disable=invalid-name
            with server.lock:
                server.in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server.in_flight)
            try:
                server.serve(self)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)
            finally:
                with server.lock:
                    server.in_flight -= 1

    return Handler
