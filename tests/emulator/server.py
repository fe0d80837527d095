# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Local Amazon ECR + S3 emulator for the airgap.ecr tests.

    python tests/emulator/server.py --port-file PATH [--port 0] [--seed-demo] [--auth]
                                    [--region us-east-1] [--url-ttl 3600] [--verbose]

One port (on 127.0.0.1) serves the ECR JSON API, S3, and a small control API under
``/_emulator/``. Storage is moto's (ECR repositories and images in moto's ECR backend,
layer/config blobs as objects in a moto S3 bucket); this module wraps moto's server
application in a WSGI middleware that implements what moto lacks or gets wrong for a
client that pushes and pulls images:

* image digests are the sha256 of the exact manifest bytes (PutImage, BatchGetImage,
  DescribeImages, ListImages, lookups by digest);
* CompleteLayerUpload checks the uploaded bytes against the given digest and stores the
  blob in S3; PutImage checks that the blobs / child manifests it references exist;
* GetDownloadUrlForLayer returns a real SigV4 pre-signed S3 URL on this host:port, whose
  signature and expiry are enforced when it is fetched, with Range support;
* optional SigV4 verification of every ECR request against a fixed set of credentials;
* fault injection, a request log, and the control API.

See README.md beside this file.
"""

import argparse
import calendar
import fnmatch
import hashlib
import hmac
import io
import json
import os
import re
import signal
import sys
import threading
import time
import traceback
import uuid
from collections import deque
from datetime import datetime, timezone
from urllib.parse import parse_qsl, quote, unquote
from xml.sax.saxutils import escape

import botocore.session
from botocore.auth import S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest, HTTPHeaders
from botocore.config import Config
from botocore.credentials import Credentials
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from moto import settings as moto_settings
from moto.ecr.models import Image as MotoImage
from moto.ecr.models import ecr_backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.s3.models import s3_backends

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import images  # noqa: E402  pylint: disable=wrong-import-position

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"
DEFAULT_URL_TTL = 3600
MAX_URL_TTL = 7 * 24 * 3600

ECR_TARGET_PREFIX = "AmazonEC2ContainerRegistry_V20150921."
ECR_CONTENT_TYPE = "application/x-amz-json-1.1"
CONTROL_PREFIX = "/_emulator"

DIGEST_PATTERN = "[a-zA-Z0-9-_+.]+:[a-fA-F0-9]+"
DIGEST_RE = re.compile(DIGEST_PATTERN)
REPOSITORY_PATTERN = "(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*"
REPOSITORY_RE = re.compile(REPOSITORY_PATTERN)
SIGV4_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_CLOCK_SKEW = 15 * 60
DEFAULT_PAGE_SIZE = 100

# Credentials known to --auth. "full": may do everything; "expired": always
# ExpiredTokenException; "denied": authenticates, then AccessDeniedException for every ECR action.
CREDENTIALS = {
    "AKIAEMULATOR00000001": {"secret": "emulator-secret-key-0001", "token": None, "kind": "full"},
    "ASIAEMULATOR00000002": {"secret": "emulator-secret-key-0002", "token": "emulator-session-token-0002", "kind": "full"},
    "ASIAEMULATOR00000003": {"secret": "emulator-secret-key-0003", "token": "emulator-expired-token-0003", "kind": "expired"},
    "AKIAEMULATOR00000004": {"secret": "emulator-secret-key-0004", "token": None, "kind": "denied", "user": "emulator-denied"},
}
FULL_ACCESS_KEY = "AKIAEMULATOR00000001"
INVALID_TOKEN_MESSAGE = "The security token included in the request is invalid."

# The emulator's own key pair, used only to sign and verify the pre-signed blob URLs it hands out.
INTERNAL_ACCESS_KEY = "AKIAEMULATORINTERNAL"
INTERNAL_SECRET_KEY = "emulator-internal-presign-secret"

# Status codes of ECR's authentication / authorization errors.
AUTH_ERROR_STATUS = {
    "MissingAuthenticationTokenException": 403,
    "UnrecognizedClientException": 403,
    "InvalidSignatureException": 403,
    "IncompleteSignatureException": 400,
    "ExpiredTokenException": 400,
    "AccessDeniedException": 400,
}
DEFAULT_FAULT_MESSAGES = {
    "ThrottlingException": "Rate exceeded",
    "SlowDown": "Please reduce your request rate.",
    "ServerException": "Internal failure. Please try your request again.",
    "InternalError": "We encountered an internal error. Please try again.",
    "ServiceUnavailable": "Service is unable to handle request.",
}
FLIP = bytes(255 - value for value in range(256))
# Fault rules: the operations 'corrupt' and 'digest' act on (besides '*').
CORRUPT_OPERATIONS = ("GetObject", "BatchGetImage")
DIGEST_OPERATIONS = ("GetObject", "GetDownloadUrlForLayer", "BatchGetImage")
SCHEMA1_MEDIA_TYPES = ("application/vnd.docker.distribution.manifest.v1+json", "application/vnd.docker.distribution.manifest.v1+prettyjws")


class ApiError(Exception):
    """An error to return to the client: ECR renders it as JSON, S3 as XML."""

    def __init__(self, code, message, status=400, extra=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.extra = extra or {}


def invalid_parameter(name, constraint):
    return ApiError("InvalidParameterException", f"Invalid parameter at '{name}' failed to satisfy constraint: '{constraint}'")


def utcnow_epoch():
    return time.time()


def iso_date(epoch):
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_sigv4_time(value):
    """Epoch seconds of a SigV4 timestamp (YYYYMMDDTHHMMSSZ), or None."""
    try:
        return calendar.timegm(time.strptime(value, SIGV4_TIME_FORMAT))
    except (TypeError, ValueError):
        return None


def sha256_digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def ecr_response(payload, status=200, error_code=None):
    headers = {"Content-Type": ECR_CONTENT_TYPE, "x-amzn-RequestId": str(uuid.uuid4())}
    if error_code:
        headers["x-amzn-ErrorType"] = error_code
    return Response(json.dumps(payload), status=status, headers=headers)


def ecr_error_response(error):
    return ecr_response({"__type": error.code, "message": error.message}, status=error.status, error_code=error.code)


def s3_error_response(error, resource=None):
    request_id = uuid.uuid4().hex[:16].upper()
    fields = [("Code", error.code), ("Message", error.message)]
    fields.extend(error.extra.items())
    if resource:
        fields.append(("Resource", resource))
    fields.extend([("RequestId", request_id), ("HostId", "emulator")])
    body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + "".join(f"<{name}>{escape(str(value))}</{name}>" for name, value in fields) + "</Error>"
    headers = {"Content-Type": "application/xml", "x-amz-request-id": request_id}
    if error.code == "InvalidRange" and "ActualObjectSize" in error.extra:
        headers["Content-Range"] = f"bytes */{error.extra['ActualObjectSize']}"
    return Response(body, status=error.status, headers=headers)


def control_response(payload, status=200):
    return Response(json.dumps(payload), status=status, headers={"Content-Type": "application/json"})


def error_code_of(service, response):
    """The AWS error code a response carries, or None for a success."""
    if response.status_code < 400:
        return None
    if service == "ecr":
        header = response.headers.get("x-amzn-ErrorType")
        if header:
            return header.split(":", 1)[0]
        try:
            code = json.loads(response.get_data()).get("__type")
        except (ValueError, AttributeError):
            code = None
        return code.rsplit("#", 1)[-1] if code else None
    match = re.search(rb"<Code>([^<]*)</Code>", response.get_data())
    return match.group(1).decode("utf-8", "replace") if match else None


def parse_authorization(header):
    """Split a SigV4 Authorization header into its parts, or raise IncompleteSignatureException."""
    scheme, rest = (header or "").strip().partition(" ")[::2]
    fields = {}
    for item in rest.split(","):
        name, value = item.strip().partition("=")[::2]
        fields[name] = value
    scope = fields.get("Credential", "").split("/")
    if scheme != "AWS4-HMAC-SHA256" or len(scope) != 5 or not fields.get("SignedHeaders") or not fields.get("Signature"):
        raise ApiError(
            "IncompleteSignatureException",
            f"Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters (AWS4-HMAC-SHA256). Authorization={header}",
            400,
        )
    return {
        "access_key": scope[0],
        "date": scope[1],
        "region": scope[2],
        "service": scope[3],
        "signed_headers": fields["SignedHeaders"].split(";"),
        "signature": fields["Signature"],
    }


def access_key_of(request):
    """The access key id a request is signed with (header or query auth), or None."""
    header = request.headers.get("Authorization", "")
    match = re.search(r"Credential=([^/,\s]+)/", header)
    if match:
        return match.group(1)
    credential = request.args.get("X-Amz-Credential")
    if credential:
        return credential.split("/", 1)[0]
    return None


def raw_path_and_query(request):
    """The request target exactly as the client sent it (before any percent-decoding)."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if not raw:
        raw = request.environ.get("PATH_INFO", "/")
        if request.environ.get("QUERY_STRING"):
            raw += "?" + request.environ["QUERY_STRING"]
    return tuple(raw.partition("?")[::2])


def signed_request(request, signed_headers, url, body=b"", params=None):
    """Rebuild the request a client signed, as a botocore AWSRequest holding only the signed headers."""
    headers = HTTPHeaders()
    for name in signed_headers:
        value = request.headers.get(name)
        if value is None:
            return None
        headers[name] = value
    return AWSRequest(method=request.method, url=url, headers=headers, data=body, params=params)


def parse_range(header, size):
    """(first, last) of a single ``bytes=`` range, None to serve the whole object, or raise InvalidRange."""
    match = re.fullmatch(r"\s*bytes=(\d*)-(\d*)\s*", header or "")
    if not match or not (match.group(1) or match.group(2)):
        return None
    if not match.group(1):
        suffix = int(match.group(2))
        if suffix == 0 or size == 0:
            raise ApiError("InvalidRange", "The requested range is not satisfiable", 416, {"RangeRequested": header, "ActualObjectSize": size})
        return max(0, size - suffix), size - 1
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) else size - 1
    if first >= size:
        raise ApiError("InvalidRange", "The requested range is not satisfiable", 416, {"RangeRequested": header, "ActualObjectSize": size})
    if last < first:
        return None
    return first, min(last, size - 1)


def describe_manifest(text):
    """What an image manifest references: {"kind": "image"|"index"|"schema1"|"unknown", ...}."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return {"kind": "unknown", "media_type": None, "config": None, "layers": [], "manifests": []}
    if not isinstance(parsed, dict):
        return {"kind": "unknown", "media_type": None, "config": None, "layers": [], "manifests": []}

    def entry(item):
        item = item if isinstance(item, dict) else {}
        return {"digest": item.get("digest"), "size": item.get("size"), "media_type": item.get("mediaType")}

    info = {"media_type": parsed.get("mediaType"), "config": None, "layers": [], "manifests": []}
    if isinstance(parsed.get("manifests"), list):
        info["kind"] = "index"
        for item in parsed["manifests"]:
            child = entry(item)
            if isinstance(item, dict) and item.get("platform"):
                child["platform"] = item["platform"]
            info["manifests"].append(child)
    elif parsed.get("schemaVersion") == 1:
        info["kind"] = "schema1"
        info["layers"] = [{"digest": item.get("blobSum"), "size": None, "media_type": None} for item in parsed.get("fsLayers") or [] if isinstance(item, dict)]
    else:
        info["kind"] = "image"
        if isinstance(parsed.get("config"), dict):
            info["config"] = entry(parsed["config"])
        info["layers"] = [entry(item) for item in parsed.get("layers") or []]
    return info


def referenced_blobs(info, include_foreign=True):
    """Digests of the blobs (config and layers) an image manifest references."""
    blobs = []
    if info["config"] and info["config"]["digest"]:
        blobs.append(info["config"]["digest"])
    for layer in info["layers"]:
        foreign = "foreign" in (layer["media_type"] or "") or "nondistributable" in (layer["media_type"] or "")
        if layer["digest"] and (include_foreign or not foreign):
            blobs.append(layer["digest"])
    return blobs


def fault_digest(operation, params):
    """The digest an ECR request is about, for fault rules with a ``digest``."""
    if operation == "GetDownloadUrlForLayer":
        return params.get("layerDigest")
    if operation == "BatchGetImage":
        image_ids = params.get("imageIds")
        if isinstance(image_ids, list) and image_ids and isinstance(image_ids[0], dict):
            return image_ids[0].get("imageDigest")
    return None


def tampered_manifests(payload):
    """A BatchGetImage answer whose manifests have a space added before their last '}': still JSON, not their digest."""
    for image in payload.get("images", []):
        text = image.get("imageManifest") or ""
        end = text.rfind("}")
        image["imageManifest"] = text[:end] + " " + text[end:] if end >= 0 else text + " "
    return payload


class RequestLog:
    """Thread-safe log of the API requests the emulator served (control requests excluded)."""

    def __init__(self, maxlen=100000):
        self._lock = threading.Lock()
        self._entries = deque(maxlen=maxlen)
        self._seq = 0

    def add(self, entry):
        with self._lock:
            self._seq += 1
            entry["seq"] = self._seq
            self._entries.append(entry)

    def list(self):
        with self._lock:
            return [dict(entry) for entry in self._entries]

    def clear(self):
        with self._lock:
            self._entries.clear()


PACE_CHUNK = 64 * 1024


def paced(data, bytes_per_second):
    """Yield ``data`` in chunks no faster than ``bytes_per_second`` (one connection's throughput)."""
    started = time.monotonic()
    view = memoryview(data)
    for offset in range(0, len(data), PACE_CHUNK):
        ahead = started + offset / bytes_per_second - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        yield bytes(view[offset:offset + PACE_CHUNK])


class FaultPlan:
    """What the matching fault rules do to one request."""

    def __init__(self):
        self.latency_ms = 0
        self.error = None
        self.corrupt = False
        self.truncate = None
        self.bytes_per_second = None


class FaultTable:
    """Thread-safe list of fault rules (see README.md for their semantics)."""

    FIELDS = ("operation", "count", "code", "status", "message", "latency_ms", "corrupt", "truncate", "digest", "bytes_per_second")

    def __init__(self):
        self._lock = threading.Lock()
        self._rules = []
        self._next_id = 0

    @staticmethod
    def _validate(spec):
        if not isinstance(spec, dict):
            raise ValueError("a fault rule is a JSON object")
        unknown = sorted(set(spec) - set(FaultTable.FIELDS))
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(unknown)}")
        operation = spec.get("operation")
        if not isinstance(operation, str) or not operation:
            raise ValueError("'operation' (an ECR operation name, 'GetObject' or '*') is required")
        count = spec.get("count")
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
            raise ValueError("'count' must be a positive integer or null")
        code = spec.get("code")
        if code is not None and (not isinstance(code, str) or not code):
            raise ValueError("'code' must be a non-empty string or null")
        status = spec.get("status")
        if status is None:
            status = 500 if code in ("ServerException", "InternalError", "InternalFailure") else 503 if code in ("SlowDown", "ServiceUnavailable") else 400
        if not isinstance(status, int) or isinstance(status, bool) or not 400 <= status <= 599:
            raise ValueError("'status' must be an HTTP error status (400-599)")
        latency = spec.get("latency_ms") or 0
        if not isinstance(latency, (int, float)) or isinstance(latency, bool) or latency < 0:
            raise ValueError("'latency_ms' must be a non-negative number")
        corrupt = spec.get("corrupt") or False
        if not isinstance(corrupt, bool):
            raise ValueError("'corrupt' must be a boolean")
        truncate = spec.get("truncate")
        if truncate is not None and (not isinstance(truncate, int) or isinstance(truncate, bool) or truncate < 0):
            raise ValueError("'truncate' must be a non-negative integer or null")
        digest = spec.get("digest")
        if digest is not None and not (isinstance(digest, str) and DIGEST_RE.fullmatch(digest)):
            raise ValueError("'digest' must be a digest such as sha256:<hex>, or null")
        rate = spec.get("bytes_per_second")
        if rate is not None and (not isinstance(rate, int) or isinstance(rate, bool) or rate < 1):
            raise ValueError("'bytes_per_second' must be a positive integer or null")
        if rate is not None and operation != "GetObject":
            raise ValueError("'bytes_per_second' applies to GetObject rules only")
        if truncate is not None and operation not in ("GetObject", "*"):
            raise ValueError("'truncate' applies to GetObject rules only")
        if corrupt and operation not in CORRUPT_OPERATIONS + ("*",):
            raise ValueError("'corrupt' applies to GetObject and BatchGetImage rules only")
        if digest is not None and operation not in DIGEST_OPERATIONS + ("*",):
            raise ValueError("'digest' applies to GetObject, GetDownloadUrlForLayer and BatchGetImage rules only")
        if not (code or latency or corrupt or truncate is not None or rate):
            raise ValueError("a fault rule needs at least one of 'code', 'latency_ms', 'corrupt', 'truncate', 'bytes_per_second'")
        message = spec.get("message")
        if message is not None and not isinstance(message, str):
            raise ValueError("'message' must be a string")
        return {
            "operation": operation,
            "remaining": count,
            "count": count,
            "code": code,
            "status": status,
            "message": message if message is not None else (DEFAULT_FAULT_MESSAGES.get(code, f"Injected fault: {code}") if code else None),
            "latency_ms": latency,
            "corrupt": corrupt,
            "truncate": truncate,
            "digest": digest,
            "bytes_per_second": rate,
        }

    def add(self, spec):
        rule = self._validate(spec)
        with self._lock:
            self._next_id += 1
            rule["id"] = f"fault-{self._next_id}"
            self._rules.append(rule)
        return dict(rule)

    def list(self):
        with self._lock:
            return [dict(rule) for rule in self._rules]

    def clear(self):
        with self._lock:
            self._rules.clear()

    def take(self, operation, digest=None):
        """Apply (and use up) the rules matching one request of ``operation``."""
        plan = FaultPlan()
        is_object = operation == "GetObject"
        with self._lock:
            if not self._rules:
                return plan
            for rule in self._rules:
                if rule["operation"] not in (operation, "*"):
                    continue
                if rule["digest"] is not None and rule["digest"] != digest:
                    continue
                used = False
                if rule["latency_ms"]:
                    plan.latency_ms += rule["latency_ms"]
                    used = True
                if rule["bytes_per_second"]:  # GetObject rules only (see _validate)
                    plan.bytes_per_second = min(plan.bytes_per_second or rule["bytes_per_second"], rule["bytes_per_second"])
                    used = True
                if plan.error is None:
                    if rule["code"]:
                        plan.error = ApiError(rule["code"], rule["message"], rule["status"])
                        used = True
                    elif (rule["corrupt"] and operation in CORRUPT_OPERATIONS) or (is_object and rule["truncate"] is not None):
                        plan.corrupt = plan.corrupt or rule["corrupt"]
                        if is_object and rule["truncate"] is not None:
                            plan.truncate = rule["truncate"] if plan.truncate is None else min(plan.truncate, rule["truncate"])
                        used = True
                if used and rule["remaining"] is not None:
                    rule["remaining"] -= 1
            self._rules = [rule for rule in self._rules if rule["remaining"] is None or rule["remaining"] > 0]
        return plan


class EmulatorApp:
    """The WSGI application: control API, ECR (own handlers + moto), S3 (pre-signed blob GETs + moto)."""

    def __init__(self, region=DEFAULT_REGION, url_ttl=DEFAULT_URL_TTL, auth=False):
        # moto's own IAM authorization must stay off whatever the environment says.
        moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
        os.environ["MOTO_ACCOUNT_ID"] = ACCOUNT_ID
        self.region = region
        self.auth = auth
        self.bucket = f"ecr-layers-{ACCOUNT_ID}-{region}"
        self.startup_config = {"url_ttl": url_ttl}
        self.config = dict(self.startup_config)
        self.endpoint = None
        self.log = RequestLog()
        self.faults = FaultTable()
        # moto's backends are not thread-safe; every use of them goes through this lock.
        self.lock = threading.RLock()
        self._config_lock = threading.Lock()
        self._manifests = {}
        self._presigner = None
        self._moto = DomainDispatcherApplication(create_backend_app)
        with self.lock:
            self.s3.create_bucket(self.bucket, region)

    @property
    def ecr(self):
        return ecr_backends[ACCOUNT_ID][self.region]

    @property
    def s3(self):
        return s3_backends[ACCOUNT_ID]["aws"]

    def bind(self, port):
        """Called once the listening port is known: pre-signed URLs point at it."""
        self.endpoint = f"http://127.0.0.1:{port}"
        session = botocore.session.Session()
        self._presigner = session.create_client(
            "s3",
            region_name=self.region,
            endpoint_url=self.endpoint,
            aws_access_key_id=INTERNAL_ACCESS_KEY,
            aws_secret_access_key=INTERNAL_SECRET_KEY,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    # ------------------------------------------------------------------ dispatch

    def __call__(self, environ, start_response):
        request = Request(environ)
        path = request.path
        try:
            if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + "/"):
                response = self._control(request)
            elif path.startswith("/moto-api"):
                # moto's own management API could reset state or switch its IAM auth on.
                response = control_response({"error": "not available in the airgap.ecr emulator"}, 404)
            elif request.headers.get("X-Amz-Target", "").startswith(ECR_TARGET_PREFIX):
                response = self._ecr(request)
            else:
                response = self._s3(request)
        except Exception:  # pylint: disable=broad-exception-caught
            traceback.print_exc()
            response = control_response({"error": "internal error in the emulator"}, 500)
        return response(environ, start_response)

    def _call_moto(self, request, body, replace_headers=None):
        """Run one request through moto's server application; return a werkzeug Response."""
        environ = dict(request.environ)
        environ.pop("werkzeug.request", None)
        environ.pop("HTTP_X_MOTO_ACCOUNT_ID", None)
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        for key, value in (replace_headers or {}).items():
            environ[key] = value
        captured = {}
        chunks = []

        def start_response(status, headers, exc_info=None):  # pylint: disable=unused-argument
            captured["status"] = int(status.split(" ", 1)[0])
            captured["headers"] = headers
            return chunks.append

        with self.lock:
            result = self._moto(environ, start_response)
            try:
                for chunk in result:
                    chunks.append(chunk)
            finally:
                if hasattr(result, "close"):
                    result.close()
        skip = {"content-length", "transfer-encoding", "connection", "keep-alive"}
        headers = [(name, value) for name, value in captured.get("headers", []) if name.lower() not in skip]
        return Response(b"".join(chunks), status=captured.get("status", 500), headers=headers)

    # ------------------------------------------------------------------ control API

    def _control(self, request):
        route = request.path[len(CONTROL_PREFIX):].rstrip("/") or "/"
        method = request.method
        try:
            body = json.loads(request.get_data() or b"null") if method in ("POST", "PUT") else None
        except ValueError:
            return control_response({"error": "the request body is not JSON"}, 400)
        routes = {
            ("/health", "GET"): lambda: {"ok": True},
            ("/images", "GET"): self.images,
            ("/faults", "GET"): self.faults.list,
            ("/faults", "POST"): lambda: self._add_fault(body),
            ("/faults", "DELETE"): lambda: self.faults.clear() or {"ok": True},
            ("/requests", "GET"): self.log.list,
            ("/requests", "DELETE"): lambda: self.log.clear() or {"ok": True},
            ("/config", "GET"): self.get_config,
            ("/config", "POST"): lambda: self.set_config(body),
            ("/blobs/delete", "POST"): lambda: self._delete_blob(body),
            ("/reset", "POST"): self.reset,
        }
        handler = routes.get((route, method))
        if handler is None:
            known = sorted({path for path, _method in routes})
            if route in known:
                return control_response({"error": f"method {method} not allowed on {CONTROL_PREFIX}{route}"}, 405)
            return control_response({"error": f"unknown control path {request.path}", "paths": [CONTROL_PREFIX + path for path in known]}, 404)
        try:
            return control_response(handler())
        except ValueError as exc:
            return control_response({"error": str(exc)}, 400)
        except LookupError as exc:
            return control_response({"error": str(exc.args[0]) if exc.args else "not found"}, 404)

    def _add_fault(self, body):
        rule = self.faults.add(body)
        return {"id": rule["id"], "rule": rule}

    def get_config(self):
        with self._config_lock:
            config = dict(self.config)
        config.update(region=self.region, account_id=ACCOUNT_ID, auth=self.auth, bucket=self.bucket, endpoint=self.endpoint)
        return config

    def set_config(self, body):
        if not isinstance(body, dict):
            raise ValueError("expected a JSON object such as {\"url_ttl\": 60}")
        unknown = sorted(set(body) - {"url_ttl"})
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(unknown)}")
        if "url_ttl" in body:
            ttl = body["url_ttl"]
            if not isinstance(ttl, int) or isinstance(ttl, bool) or not 1 <= ttl <= MAX_URL_TTL:
                raise ValueError(f"'url_ttl' must be an integer from 1 to {MAX_URL_TTL}")
            with self._config_lock:
                self.config["url_ttl"] = ttl
        return self.get_config()

    def reset(self):
        self.faults.clear()
        self.log.clear()
        with self._config_lock:
            self.config = dict(self.startup_config)
        return {"ok": True}

    def _delete_blob(self, body):
        if not isinstance(body, dict) or not isinstance(body.get("repository"), str) or not isinstance(body.get("digest"), str):
            raise ValueError("expected {\"repository\": NAME, \"digest\": DIGEST}")
        key = self.blob_key(body["repository"], body["digest"])
        with self.lock:
            if self.s3.get_object(self.bucket, key) is None:
                raise LookupError(f"no blob stored at s3://{self.bucket}/{key}")
            self.s3.delete_object(self.bucket, key)
        return {"ok": True, "bucket": self.bucket, "key": key}

    def images(self):
        """Every image of every repository, with what its manifest references."""
        result = []
        with self.lock:
            repositories = list(self.ecr.repositories.values())
            for repository in repositories:
                for image in list(repository.images):
                    info = self.manifest_info(image)
                    item = {
                        "repository": repository.name,
                        "registry_id": repository.registry_id,
                        "tags": list(image.image_tags),
                        "image_digest": image.image_digest,
                        "media_type": image.image_manifest_media_type,
                        "manifest_size": len(image.image_manifest.encode("utf-8")),
                        "pushed_at": image.image_pushed_at,
                    }
                    if info["kind"] == "index":
                        item["manifests"] = [dict(child) for child in info["manifests"]]
                    else:
                        item["config"] = dict(info["config"]) if info["config"] else None
                        item["layers"] = [dict(layer) for layer in info["layers"]]
                    result.append(item)
        return result

    # ------------------------------------------------------------------ storage helpers

    @staticmethod
    def blob_key(repository, digest):
        return f"{repository}/{digest}"

    def manifest_info(self, image):
        digest = image.image_digest
        info = self._manifests.get(digest)
        if info is None:
            info = describe_manifest(image.image_manifest)
            self._manifests[digest] = info
        return info

    def blob_exists(self, key):
        with self.lock:
            return self.s3.get_object(self.bucket, key) is not None

    def presign(self, key, ttl):
        return self._presigner.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=ttl)

    # ------------------------------------------------------------------ ECR

    def _ecr(self, request):
        operation = request.headers["X-Amz-Target"][len(ECR_TARGET_PREFIX):]
        body = request.get_data(cache=True)
        entry = {
            "time": utcnow_epoch(),
            "service": "ecr",
            "operation": operation,
            "params": {},
            "access_key": access_key_of(request),
            "user_agent": request.headers.get("User-Agent", ""),
        }
        try:
            try:
                params = json.loads(body or b"{}")
            except ValueError:
                params = None
            if not isinstance(params, dict):
                raise ApiError("SerializationException", "Start of structure or map found where not expected.", 400)
            entry["params"] = {name: value for name, value in params.items() if name != "layerPartBlob"}
            if self.auth:
                self._authenticate(request, body, operation, params)
            plan = self.faults.take(operation, digest=fault_digest(operation, params))
            if plan.latency_ms:
                time.sleep(plan.latency_ms / 1000.0)
            if plan.error is not None:
                raise plan.error
            handler = self.ECR_HANDLERS.get(operation)
            if handler is not None:
                payload = handler(self, params)
                response = ecr_response(tampered_manifests(payload) if plan.corrupt else payload)
            else:
                response = self._forward_ecr(request, body, operation, params)
        except ApiError as error:
            response = ecr_error_response(error)
        except Exception:  # pylint: disable=broad-exception-caught
            traceback.print_exc()
            response = ecr_error_response(ApiError("ServerException", "The emulator failed to process the request.", 500))
        entry["status"] = response.status_code
        entry["error_code"] = error_code_of("ecr", response)
        self.log.add(entry)
        return response

    def _forward_ecr(self, request, body, operation, params):
        # moto routes on the Authorization header and picks the region from it (or the
        # user agent): give it a canonical one so that every client lands in our region.
        stamp = time.strftime("%Y%m%d", time.gmtime())
        access_key = access_key_of(request) or FULL_ACCESS_KEY
        replace = {
            "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential={access_key}/{stamp}/{self.region}/ecr/aws4_request, SignedHeaders=host, Signature=0",
            "HTTP_USER_AGENT": f"airgap-ecr-emulator region/{self.region}",
        }
        response = self._call_moto(request, body, replace)
        if response.status_code >= 400:
            response = self._normalise_ecr_error(response)
        elif operation == "DeleteRepository":
            self._delete_repository_blobs(params.get("repositoryName"))
        return response

    @staticmethod
    def _normalise_ecr_error(response):
        """moto answers some errors in XML or without a code; the ECR client needs JSON."""
        code = error_code_of("ecr", response)
        try:
            message = json.loads(response.get_data()).get("message")
        except (ValueError, AttributeError):
            message = None
        if code and message is not None:
            return response
        text = response.get_data(as_text=True)
        xml_code = re.search(r"<Code>([^<]*)</Code>", text)
        xml_message = re.search(r"<Message>([^<]*)</Message>", text)
        code = code or (xml_code.group(1) if xml_code else "ServerException")
        message = xml_message.group(1) if xml_message else (text.strip()[:500] or code)
        status = response.status_code if response.status_code < 500 or code == "ServerException" else 500
        return ecr_error_response(ApiError(code, message, status))

    def _delete_repository_blobs(self, repository):
        if not repository:
            return
        prefix = repository + "/"
        with self.lock:
            bucket = self.s3.get_bucket(self.bucket)
            for key in [name for name in list(bucket.keys.keys()) if name.startswith(prefix) and "/" not in name[len(prefix):]]:
                self.s3.delete_object(self.bucket, key)

    def _authenticate(self, request, body, operation, params):
        header = request.headers.get("Authorization")
        if not header:
            raise ApiError("MissingAuthenticationTokenException", "Missing Authentication Token", 403)
        auth = parse_authorization(header)
        known = CREDENTIALS.get(auth["access_key"])
        if known is None:
            raise ApiError("UnrecognizedClientException", INVALID_TOKEN_MESSAGE, AUTH_ERROR_STATUS["UnrecognizedClientException"])
        if known["kind"] == "expired":
            raise ApiError("ExpiredTokenException", "The security token included in the request is expired", AUTH_ERROR_STATUS["ExpiredTokenException"])
        token = request.headers.get("X-Amz-Security-Token")
        if token != known["token"]:
            raise ApiError("UnrecognizedClientException", INVALID_TOKEN_MESSAGE, AUTH_ERROR_STATUS["UnrecognizedClientException"])
        amz_date = request.headers.get("X-Amz-Date")
        signed_at = parse_sigv4_time(amz_date)
        if signed_at is None:
            raise ApiError("IncompleteSignatureException", "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.", 400)
        if not self._signature_matches(request, body, auth, known["secret"], token, amz_date):
            raise ApiError(
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. "
                "Consult the service documentation for details.",
                AUTH_ERROR_STATUS["InvalidSignatureException"],
            )
        now = utcnow_epoch()
        if abs(now - signed_at) > MAX_CLOCK_SKEW:
            raise ApiError(
                "InvalidSignatureException",
                f"Signature expired: {amz_date} is now earlier than {time.strftime(SIGV4_TIME_FORMAT, time.gmtime(now - MAX_CLOCK_SKEW))} "
                f"({time.strftime(SIGV4_TIME_FORMAT, time.gmtime(now))} - 15 min.)",
                AUTH_ERROR_STATUS["InvalidSignatureException"],
            )
        if known["kind"] == "denied":
            if params.get("repositoryName"):
                resource = f"arn:aws:ecr:{auth['region']}:{params.get('registryId') or ACCOUNT_ID}:repository/{params['repositoryName']}"
            elif operation == "GetAuthorizationToken":
                resource = "*"
            else:
                resource = f"arn:aws:ecr:{auth['region']}:{ACCOUNT_ID}:repository/*"
            raise ApiError(
                "AccessDeniedException",
                f"User: arn:aws:iam::{ACCOUNT_ID}:user/{known['user']} is not authorized to perform: ecr:{operation} on resource: {resource} "
                f"because no identity-based policy allows the ecr:{operation} action",
                AUTH_ERROR_STATUS["AccessDeniedException"],
            )

    @staticmethod
    def _signature_matches(request, body, auth, secret, token, amz_date):
        """Recompute the SigV4 header signature with botocore from the request as received."""
        path, query = raw_path_and_query(request)
        url = f"http://{request.headers.get('Host', '')}{path}" + (f"?{query}" if query else "")
        aws_request = signed_request(request, auth["signed_headers"], url, body)
        if aws_request is None:
            return False
        aws_request.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(auth["access_key"], secret, token), auth["service"], auth["region"])
        canonical = signer.canonical_request(aws_request)
        expected = signer.signature(signer.string_to_sign(aws_request, canonical), aws_request)
        return hmac.compare_digest(expected, auth["signature"])

    # ECR operations implemented here (everything else goes to moto) ----------------

    def _repository(self, params):
        """The repository a request names, or RepositoryNotFoundException (also for a foreign registry id)."""
        name = params.get("repositoryName")
        registry_id = params.get("registryId") or ACCOUNT_ID
        if not isinstance(name, str) or not REPOSITORY_RE.fullmatch(name) or len(name) > 256:
            raise invalid_parameter("repositoryName", f"must satisfy regular expression '{REPOSITORY_PATTERN}'")
        repository = self.ecr.repositories.get(name)
        if repository is None or registry_id != ACCOUNT_ID or repository.registry_id != registry_id:
            raise ApiError("RepositoryNotFoundException", f"The repository with name '{name}' does not exist in the registry with id '{registry_id}'")
        return repository

    def get_download_url_for_layer(self, params):
        digest = params.get("layerDigest")
        if not isinstance(digest, str) or not DIGEST_RE.fullmatch(digest):
            raise invalid_parameter("layerDigest", f"must satisfy regular expression '{DIGEST_PATTERN}'")
        with self.lock:
            repository = self._repository(params)
            referenced = any(digest in referenced_blobs(self.manifest_info(image)) for image in list(repository.images))
        if not referenced:
            raise ApiError("LayersNotFoundException", "The specified layers could not be found, or the specified layer is not valid for this repository.")
        key = self.blob_key(repository.name, digest)
        if not self.blob_exists(key):
            raise ApiError(
                "LayerInaccessibleException",
                "The specified layer is not available because it is not associated with an image. Unassociated image layers may be cleaned up at any time.",
            )
        with self._config_lock:
            ttl = self.config["url_ttl"]
        return {"downloadUrl": self.presign(key, ttl), "layerDigest": digest}

    def complete_layer_upload(self, params):
        upload_id = params.get("uploadId")
        digests = params.get("layerDigests")
        with self.lock:
            repository = self._repository(params)
            upload = repository.uploads.get(upload_id)
            if upload is None:
                raise ApiError(
                    "UploadNotFoundException",
                    f"Upload with id '{upload_id}' is not found in repository with name '{repository.name}' in registry with id '{repository.registry_id}'",
                )
            if not isinstance(digests, list) or len(digests) != 1 or not isinstance(digests[0], str) or not DIGEST_RE.fullmatch(digests[0]):
                raise invalid_parameter("layerDigests", "exactly one valid layer digest is required")
            data = bytes(upload.layer_parts)
            if not data:
                raise ApiError("EmptyUploadException", f"The upload with id '{upload_id}' does not contain any layer parts.")
            actual = sha256_digest(data)
            claimed = digests[0]
            if claimed != actual:
                del repository.uploads[upload_id]
                raise ApiError(
                    "InvalidLayerException",
                    f"The layer digest calculation performed by Amazon ECR upon receipt of the image layer does not match the digest specified. "
                    f"Layer digest '{claimed}' does not match the calculated digest '{actual}' of the uploaded layer.",
                )
            key = self.blob_key(repository.name, actual)
            del repository.uploads[upload_id]
            if actual in repository.layers and self.s3.get_object(self.bucket, key) is not None:
                raise ApiError(
                    "LayerAlreadyExistsException",
                    f"The layer with digest '{actual}' already exists in the repository with name '{repository.name}' "
                    f"in the registry with id '{repository.registry_id}'",
                )
            self.s3.put_object(self.bucket, key, data)
            repository.layers[actual] = len(data)
            return {"registryId": repository.registry_id, "repositoryName": repository.name, "uploadId": upload_id, "layerDigest": actual}

    @staticmethod
    def _tag_immutable(repository, tag):
        mode = str(getattr(repository.image_tag_mutability, "value", repository.image_tag_mutability) or "MUTABLE")
        immutable = mode.startswith("IMMUTABLE")
        if mode.endswith("_WITH_EXCLUSION"):
            filters = repository.image_tag_mutability_exclusion_filters or []
            if any(fnmatch.fnmatchcase(tag, item.get("filter", "")) for item in filters if isinstance(item, dict)):
                immutable = not immutable
        return immutable

    @staticmethod
    def _untag(image, tag):
        image.image_tags = [name for name in image.image_tags if name != tag]
        image.image_tag = image.image_tags[-1] if image.image_tags else None

    def put_image(self, params):
        manifest = params.get("imageManifest")
        if not isinstance(manifest, str) or not manifest:
            raise invalid_parameter("imageManifest", "must not be empty")
        try:
            parsed = json.loads(manifest)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise invalid_parameter("ImageManifest", "Invalid JSON syntax")
        declared = parsed.get("mediaType")
        given = params.get("imageManifestMediaType")
        if given and declared and given != declared:
            raise invalid_parameter("imageManifestMediaType", f"media type '{given}' does not match the manifest's mediaType '{declared}'")
        media_type = given or declared or (SCHEMA1_MEDIA_TYPES[0] if parsed.get("schemaVersion") == 1 else None)
        if not media_type:
            raise invalid_parameter("imageManifestMediaType", "image manifest media type not provided")
        digest = sha256_digest(manifest.encode("utf-8"))
        if params.get("imageDigest") and params["imageDigest"] != digest:
            message = f"The image digest '{params['imageDigest']}' does not match the digest '{digest}' of the manifest."
            raise ApiError("ImageDigestDoesNotMatchException", message)
        tag = params.get("imageTag")
        info = describe_manifest(manifest)
        with self.lock:
            repository = self._repository(params)
            label = f"repository with name '{repository.name}' in the registry with id '{repository.registry_id}'"
            if info["kind"] in ("image", "schema1"):
                missing = [blob for blob in referenced_blobs(info, include_foreign=False) if blob not in repository.layers]
                if missing:
                    raise ApiError("LayersNotFoundException", f"Layers with digests {json.dumps(missing)} required for pushing image into {label} do not exist")
            elif info["kind"] == "index":
                present = {image.image_digest for image in repository.images}
                missing = [child["digest"] for child in info["manifests"] if child["digest"] not in present]
                if missing:
                    message = f"Manifests with digests {json.dumps(missing)} referenced by the manifest list do not exist in the {label}"
                    raise ApiError("ReferencedImagesNotFoundException", message)
            existing = next((image for image in repository.images if image.image_digest == digest), None)
            if existing is not None and (tag is None or tag in existing.image_tags):
                raise ApiError(
                    "ImageAlreadyExistsException",
                    f"Image with digest '{digest}' and tag '{tag if tag is not None else 'null'}' already exists in the {label}",
                )
            holders = [image for image in repository.images if tag is not None and tag in image.image_tags and image is not existing]
            if holders and self._tag_immutable(repository, tag):
                raise ApiError(
                    "ImageTagAlreadyExistsException",
                    f"The image tag '{tag}' already exists in the '{repository.name}' repository "
                    "and cannot be overwritten because the repository is immutable.",
                )
            for image in holders:
                self._untag(image, tag)
            if existing is not None:
                existing.update_tag(tag)
                image = existing
            else:
                image = MotoImage(
                    account_id=ACCOUNT_ID,
                    tag=tag,
                    manifest=manifest,
                    repository=repository.name,
                    image_manifest_mediatype=media_type,
                    digest=digest,
                    registry_id=repository.registry_id,
                )
                repository.images.append(image)
            self._manifests[digest] = info
            image_id = {"imageDigest": digest}
            if tag is not None:
                image_id["imageTag"] = tag
            return {
                "image": {
                    "registryId": repository.registry_id,
                    "repositoryName": repository.name,
                    "imageId": image_id,
                    "imageManifest": image.image_manifest,
                    "imageManifestMediaType": image.image_manifest_media_type,
                }
            }

    def batch_get_image(self, params):
        image_ids = params.get("imageIds")
        if not isinstance(image_ids, list) or not image_ids:
            raise invalid_parameter("imageIds", "Member must have length greater than or equal to 1")
        accepted = params.get("acceptedMediaTypes")
        if accepted is not None and (not isinstance(accepted, list) or not all(isinstance(item, str) for item in accepted)):
            raise invalid_parameter("acceptedMediaTypes", "must be a list of media types")
        result = {"images": [], "failures": []}
        with self.lock:
            repository = self._repository(params)
            for image_id in image_ids:
                image_id = image_id if isinstance(image_id, dict) else {}
                digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")
                failure = None
                image = None
                if not digest and not tag:
                    failure = ("MissingDigestAndTag", "Invalid request parameters: both tag and digest cannot be null")
                elif digest and not DIGEST_RE.fullmatch(digest):
                    failure = ("InvalidImageDigest", f"Invalid request parameters: image digest should satisfy the regex '{DIGEST_PATTERN}'")
                else:
                    by_digest = next((item for item in repository.images if item.image_digest == digest), None) if digest else None
                    by_tag = next((item for item in repository.images if tag in item.image_tags), None) if tag else None
                    if digest and tag and by_digest is not None and by_tag is not by_digest:
                        failure = ("ImageTagDoesNotMatchDigest", "Invalid request parameters: given tag does not map to given digest")
                    else:
                        image = by_digest if digest else by_tag
                        if image is None:
                            failure = ("ImageNotFound", "Requested image not found")
                if failure:
                    result["failures"].append({"imageId": image_id, "failureCode": failure[0], "failureReason": failure[1]})
                    continue
                # acceptedMediaTypes is honoured loosely: the manifest is returned as stored
                # (ECR would convert schema 2 to schema 1 for clients that only accept schema 1).
                found_id = {"imageDigest": image.image_digest}
                if tag:
                    found_id["imageTag"] = tag
                result["images"].append(
                    {
                        "registryId": repository.registry_id,
                        "repositoryName": repository.name,
                        "imageId": found_id,
                        "imageManifest": image.image_manifest,
                        "imageManifestMediaType": image.image_manifest_media_type,
                    }
                )
        return result

    @staticmethod
    def _page(items, params):
        """One page of ``items`` per maxResults / nextToken (an opaque offset)."""
        max_results = params.get("maxResults") or DEFAULT_PAGE_SIZE
        if not isinstance(max_results, int) or not 1 <= max_results <= 1000:
            raise invalid_parameter("maxResults", "Member must have value between 1 and 1000")
        token = params.get("nextToken")
        start = 0
        if token:
            if not isinstance(token, str) or not token.startswith("offset-") or not token[7:].isdigit():
                raise invalid_parameter("nextToken", "invalid pagination token")
            start = int(token[7:])
        end = start + max_results
        return items[start:end], (f"offset-{end}" if end < len(items) else None)

    @staticmethod
    def _by_tag_status(images_, params):
        status = (params.get("filter") or {}).get("tagStatus", "ANY")
        if status == "TAGGED":
            return [image for image in images_ if image.image_tags]
        if status == "UNTAGGED":
            return [image for image in images_ if not image.image_tags]
        return list(images_)

    def list_images(self, params):
        with self.lock:
            repository = self._repository(params)
            image_ids = []
            for image in self._by_tag_status(repository.images, params):
                if image.image_tags:
                    image_ids.extend({"imageDigest": image.image_digest, "imageTag": tag} for tag in image.image_tags)
                else:
                    image_ids.append({"imageDigest": image.image_digest})
        page, token = self._page(image_ids, params)
        result = {"imageIds": page}
        if token:
            result["nextToken"] = token
        return result

    def _image_size(self, repository, image):
        info = self.manifest_info(image)
        if info["kind"] == "index":
            children = {child["digest"] for child in info["manifests"]}
            sizes = [self._image_size(repository, item) for item in repository.images if item.image_digest in children]
            return max(sizes) if sizes else 0
        return sum(layer["size"] or 0 for layer in info["layers"] if isinstance(layer["size"], int))

    def describe_images(self, params):
        with self.lock:
            repository = self._repository(params)
            image_ids = params.get("imageIds")
            if image_ids:
                selected = []
                for image_id in image_ids:
                    image_id = image_id if isinstance(image_id, dict) else {}
                    digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")
                    image = None
                    if digest or tag:
                        matches = (item for item in repository.images if (not digest or item.image_digest == digest) and (not tag or tag in item.image_tags))
                        image = next(matches, None)
                    if image is None:
                        raise ApiError(
                            "ImageNotFoundException",
                            f"The image with imageId {{imageDigest:'{digest or 'null'}', imageTag:'{tag or 'null'}'}} does not exist "
                            f"within the repository with name '{repository.name}' in the registry with id '{repository.registry_id}'",
                        )
                    if image not in selected:
                        selected.append(image)
                page, token = selected, None
            else:
                page, token = self._page(self._by_tag_status(repository.images, params), params)
            details = []
            for image in page:
                info = self.manifest_info(image)
                detail = {
                    "registryId": repository.registry_id,
                    "repositoryName": repository.name,
                    "imageDigest": image.image_digest,
                    "imageSizeInBytes": self._image_size(repository, image),
                    "imagePushedAt": image.image_pushed_at,
                    "imageManifestMediaType": image.image_manifest_media_type,
                }
                if image.image_tags:
                    detail["imageTags"] = list(image.image_tags)
                if info["config"] and info["config"]["media_type"]:
                    detail["artifactMediaType"] = info["config"]["media_type"]
                details.append(detail)
        result = {"imageDetails": details}
        if token:
            result["nextToken"] = token
        return result

    ECR_HANDLERS = {
        "GetDownloadUrlForLayer": get_download_url_for_layer,
        "CompleteLayerUpload": complete_layer_upload,
        "PutImage": put_image,
        "BatchGetImage": batch_get_image,
        "ListImages": list_images,
        "DescribeImages": describe_images,
    }

    # ------------------------------------------------------------------ S3

    def _s3(self, request):
        bucket, key = request.path.lstrip("/").partition("/")[::2]
        presigned = "X-Amz-Signature" in request.args or "X-Amz-Algorithm" in request.args
        ours = bucket == self.bucket
        if request.method in ("GET", "HEAD") and key and ours and "Authorization" not in request.headers:
            # Blobs are only reachable through the pre-signed URLs GetDownloadUrlForLayer hands out.
            return self._serve_blob(request, bucket, key, presigned)
        operation = self._s3_operation(request, bucket, key)
        entry = {
            "time": utcnow_epoch(),
            "service": "s3",
            "operation": operation,
            "params": {"bucket": bucket or None, "key": key or None},
            "access_key": access_key_of(request),
            "user_agent": request.headers.get("User-Agent", ""),
        }
        try:
            plan = self.faults.take(operation)
            if plan.latency_ms:
                time.sleep(plan.latency_ms / 1000.0)
            if plan.error is not None:
                raise plan.error
            response = self._call_moto(request, request.get_data(cache=True))
        except ApiError as error:
            response = s3_error_response(error, request.path)
        except Exception:  # pylint: disable=broad-exception-caught
            traceback.print_exc()
            response = s3_error_response(ApiError("InternalError", "We encountered an internal error. Please try again.", 500), request.path)
        entry["status"] = response.status_code
        entry["error_code"] = error_code_of("s3", response)
        self.log.add(entry)
        return response

    @staticmethod
    def _s3_operation(request, bucket, key):
        if not bucket:
            return "ListBuckets" if request.method == "GET" else request.method
        if not key:
            return {"GET": "ListObjects", "PUT": "CreateBucket", "DELETE": "DeleteBucket", "HEAD": "HeadBucket"}.get(request.method, request.method)
        if "uploadId" in request.args or "uploads" in request.args:
            return "MultipartUpload"
        names = {"GET": "GetObject", "PUT": "PutObject", "DELETE": "DeleteObject", "HEAD": "HeadObject", "POST": "PostObject"}
        return names.get(request.method, request.method)

    def _serve_blob(self, request, bucket, key, presigned):
        """A pre-signed GET of a layer blob: check signature and expiry, apply faults, honour Range."""
        range_header = request.headers.get("Range")
        params = {"bucket": bucket, "key": key}
        if range_header:
            params["range"] = range_header
        entry = {
            "time": utcnow_epoch(),
            "service": "s3",
            "operation": "GetObject" if request.method == "GET" else "HeadObject",
            "params": params,
            "access_key": access_key_of(request),
            "user_agent": request.headers.get("User-Agent", ""),
        }
        try:
            if not presigned:
                raise ApiError("AccessDenied", "Access Denied", 403)
            self._check_presigned(request)
            plan = self.faults.take("GetObject", digest=key.rsplit("/", 1)[-1])
            if plan.latency_ms:
                time.sleep(plan.latency_ms / 1000.0)
            if plan.error is not None:
                raise plan.error
            with self.lock:
                stored = self.s3.get_object(bucket, key)
                if stored is None:
                    raise ApiError("NoSuchKey", "The specified key does not exist.", 404, {"Key": key})
                data, etag, modified = stored.value, stored.etag, stored.last_modified_RFC1123
            if plan.corrupt:
                data = data.translate(FLIP)
            size = len(data)
            headers = {
                "Content-Type": "application/octet-stream",
                "Accept-Ranges": "bytes",
                "ETag": etag,
                "Last-Modified": modified,
                "x-amz-request-id": uuid.uuid4().hex[:16].upper(),
            }
            status = 200
            span = parse_range(range_header, size) if range_header else None
            if span is not None:
                data = data[span[0]:span[1] + 1]
                headers["Content-Range"] = f"bytes {span[0]}-{span[1]}/{size}"
                status = 206
            if plan.truncate is not None:
                data = data[:plan.truncate]
            if plan.bytes_per_second and request.method == "GET":
                headers["Content-Length"] = str(len(data))
                response = Response(paced(data, plan.bytes_per_second), status=status, headers=headers)
            else:
                response = Response(data, status=status, headers=headers)
        except ApiError as error:
            response = s3_error_response(error, f"/{bucket}/{key}")
        except Exception:  # pylint: disable=broad-exception-caught
            traceback.print_exc()
            response = s3_error_response(ApiError("InternalError", "We encountered an internal error. Please try again.", 500), f"/{bucket}/{key}")
        entry["status"] = response.status_code
        entry["error_code"] = error_code_of("s3", response)
        self.log.add(entry)
        return response

    def _check_presigned(self, request):
        args = request.args
        required = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Expires")
        if any(not args.get(name) for name in required):
            raise ApiError(
                "AuthorizationQueryParametersError",
                "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, "
                "and X-Amz-Expires parameters.",
            )
        if args["X-Amz-Algorithm"] != "AWS4-HMAC-SHA256":
            raise ApiError("AuthorizationQueryParametersError", 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"')
        scope = args["X-Amz-Credential"].split("/")
        if len(scope) != 5:
            raise ApiError("AuthorizationQueryParametersError", "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed.")
        if scope[0] != INTERNAL_ACCESS_KEY:
            raise ApiError("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", 403, {"AWSAccessKeyId": scope[0]})
        signed_at = parse_sigv4_time(args["X-Amz-Date"])
        expires = args["X-Amz-Expires"]
        if signed_at is None or not expires.isdigit():
            raise ApiError("AuthorizationQueryParametersError", "X-Amz-Date / X-Amz-Expires must be a SigV4 timestamp and a number of seconds.")
        path, query = raw_path_and_query(request)
        # Canonicalise path and query the way S3 does, whatever percent-encoding the client chose.
        url = f"http://{request.headers.get('Host', '')}{quote(unquote(path), safe='/~')}"
        params = [(name, value) for name, value in parse_qsl(query, keep_blank_values=True) if name != "X-Amz-Signature"]
        aws_request = signed_request(request, args["X-Amz-SignedHeaders"].split(";"), url, params=params)
        expected = None
        if aws_request is not None:
            aws_request.context["timestamp"] = args["X-Amz-Date"]
            signer = S3SigV4QueryAuth(Credentials(INTERNAL_ACCESS_KEY, INTERNAL_SECRET_KEY), scope[3], scope[2], expires=int(expires))
            canonical = signer.canonical_request(aws_request)
            string_to_sign = signer.string_to_sign(aws_request, canonical)
            expected = signer.signature(string_to_sign, aws_request)
        if expected is None or not hmac.compare_digest(expected, args["X-Amz-Signature"]):
            raise ApiError(
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
                403,
                {"AWSAccessKeyId": scope[0], "SignatureProvided": args["X-Amz-Signature"]},
            )
        now = utcnow_epoch()
        if now > signed_at + int(expires):
            raise ApiError(
                "AccessDenied",
                "Request has expired",
                403,
                {"X-Amz-Expires": expires, "Expires": iso_date(signed_at + int(expires)), "ServerTime": iso_date(now)},
            )


class QuietRequestHandler(MotoRequestHandler):
    """moto's request handler (keeps underscored header names), without werkzeug's per-request log line."""

    verbose = False

    def log_request(self, code="-", size="-"):
        if self.verbose:
            super().log_request(code, size)


def seed_demo(app):
    """Push airgap/demo:1.0 and airgap/demo:multi through the ECR API over HTTP, as a client would.

    Returns ``{tag: what images.push_demo / images.push_demo_multi returned}``.
    """
    session = botocore.session.Session()
    client = session.create_client(
        "ecr",
        region_name=app.region,
        endpoint_url=app.endpoint,
        aws_access_key_id=FULL_ACCESS_KEY,
        aws_secret_access_key=CREDENTIALS[FULL_ACCESS_KEY]["secret"],
        config=Config(retries={"total_max_attempts": 1}),
    )
    try:
        return {images.DEMO_TAG: images.push_demo(client), images.DEMO_MULTI_TAG: images.push_demo_multi(client)}
    finally:
        client.close()


def write_port_file(path, port):
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(temporary, "w", encoding="ascii") as handle:
        handle.write(f"{port}\n")
    os.replace(temporary, path)


def isolate_aws_environment():
    """Keep the user's AWS configuration out of the emulator's own botocore clients."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_ECR", "INITIAL_NO_AUTH_ACTION_COUNT"):
        os.environ.pop(name, None)
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"


def parse_args(argv):
    parser = argparse.ArgumentParser(description="Local Amazon ECR + S3 emulator (moto based) for the airgap.ecr tests.")
    parser.add_argument("--port-file", required=True, help="write the listening port here (atomically) once ready")
    parser.add_argument("--port", type=int, default=0, help="port to listen on, on 127.0.0.1 (0: any free port)")
    parser.add_argument("--seed-demo", action="store_true", help="push airgap/demo:1.0 and airgap/demo:multi before announcing the port")
    parser.add_argument("--auth", action="store_true", help="verify SigV4 on every ECR request against the emulator's credentials")
    parser.add_argument("--region", default=DEFAULT_REGION, help="the registry's region (default %(default)s)")
    parser.add_argument("--url-ttl", type=int, default=DEFAULT_URL_TTL, help="lifetime in seconds of the pre-signed layer URLs (default %(default)s)")
    parser.add_argument("--verbose", action="store_true", help="log every HTTP request to stderr")
    args = parser.parse_args(argv)
    regions = botocore.session.Session().get_available_regions("ecr")
    if args.region not in regions:
        parser.error(f"--region must be one of {', '.join(sorted(regions))}")
    if not 1 <= args.url_ttl <= MAX_URL_TTL:
        parser.error(f"--url-ttl must be from 1 to {MAX_URL_TTL}")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    isolate_aws_environment()
    stop = threading.Event()

    def request_stop(signum, frame):  # pylint: disable=unused-argument
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    app = EmulatorApp(region=args.region, url_ttl=args.url_ttl, auth=args.auth)
    QuietRequestHandler.verbose = args.verbose
    server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=QuietRequestHandler)
    app.bind(server.server_port)
    thread = threading.Thread(target=server.serve_forever, name="emulator-http", daemon=True)
    thread.start()
    try:
        if args.seed_demo:
            started = time.monotonic()
            pushed = seed_demo(app)
            app.log.clear()
            elapsed = time.monotonic() - started
            seeded = ", ".join(f"{images.DEMO_REPOSITORY}:{tag} {image['image_digest']}" for tag, image in pushed.items())
            print(f"seeded {seeded} in {elapsed:.2f}s", file=sys.stderr, flush=True)
        write_port_file(args.port_file, server.server_port)
        print(f"airgap.ecr emulator listening on {app.endpoint} (region {args.region}, auth {'on' if args.auth else 'off'})", file=sys.stderr, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
