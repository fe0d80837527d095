# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every part of the emulator shares: its constants, API errors and their responses, the request log."""

import hashlib
import json
import re
import threading
import time
import uuid
from collections import deque
from datetime import UTC
from datetime import datetime
from xml.sax.saxutils import escape

from werkzeug.wrappers import Response

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
DEFAULT_PAGE_SIZE = 100


class ApiError(Exception):
    """An error to return to the client: ECR renders it as JSON, S3 as XML."""

    def __init__(self, code, message, status=400, extra=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.extra = extra or {}


def invalid_parameter(name, constraint):
    return ApiError(
        "InvalidParameterException", f"Invalid parameter at '{name}' failed to satisfy constraint: '{constraint}'"
    )


def utcnow_epoch():
    return time.time()


def iso_date(epoch):
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error>'
        + "".join(f"<{name}>{escape(str(value))}</{name}>" for name, value in fields)
        + "</Error>"
    )
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
