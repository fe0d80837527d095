# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fault rules (tests/emulator/README.md, "Fault rules"): what they are and what they do to one request."""

import threading

from .common import DIGEST_RE
from .common import ApiError

DEFAULT_FAULT_MESSAGES = {
    "ThrottlingException": "Rate exceeded",
    "SlowDown": "Please reduce your request rate.",
    "ServerException": "Internal failure. Please try your request again.",
    "InternalError": "We encountered an internal error. Please try again.",
    "ServiceUnavailable": "Service is unable to handle request.",
}
# Fault rules: the operations 'corrupt' and 'digest' act on (besides '*').
CORRUPT_OPERATIONS = ("GetObject", "BatchGetImage")
DIGEST_OPERATIONS = ("GetObject", "GetDownloadUrlForLayer", "BatchGetImage")


def fault_digest(operation, params):
    """The digest an ECR request is about, for fault rules with a ``digest``."""
    if operation == "GetDownloadUrlForLayer":
        return params.get("layerDigest")
    if operation == "BatchGetImage":
        image_ids = params.get("imageIds")
        if isinstance(image_ids, list) and image_ids and isinstance(image_ids[0], dict):
            return image_ids[0].get("imageDigest")
    return None


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

    FIELDS = (
        "operation",
        "count",
        "code",
        "status",
        "message",
        "latency_ms",
        "corrupt",
        "truncate",
        "digest",
        "bytes_per_second",
    )

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
            status = (
                500
                if code in ("ServerException", "InternalError", "InternalFailure")
                else 503
                if code in ("SlowDown", "ServiceUnavailable")
                else 400
            )
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
            raise ValueError(
                "a fault rule needs at least one of 'code', 'latency_ms', 'corrupt', 'truncate', 'bytes_per_second'"
            )
        message = spec.get("message")
        if message is not None and not isinstance(message, str):
            raise ValueError("'message' must be a string")
        return {
            "operation": operation,
            "remaining": count,
            "count": count,
            "code": code,
            "status": status,
            "message": message
            if message is not None
            else (DEFAULT_FAULT_MESSAGES.get(code, f"Injected fault: {code}") if code else None),
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
                    plan.bytes_per_second = min(
                        plan.bytes_per_second or rule["bytes_per_second"], rule["bytes_per_second"]
                    )
                    used = True
                if plan.error is None:
                    if rule["code"]:
                        plan.error = ApiError(rule["code"], rule["message"], rule["status"])
                        used = True
                    elif (rule["corrupt"] and operation in CORRUPT_OPERATIONS) or (
                        is_object and rule["truncate"] is not None
                    ):
                        plan.corrupt = plan.corrupt or rule["corrupt"]
                        if is_object and rule["truncate"] is not None:
                            plan.truncate = (
                                rule["truncate"] if plan.truncate is None else min(plan.truncate, rule["truncate"])
                            )
                        used = True
                if used and rule["remaining"] is not None:
                    rule["remaining"] -= 1
            self._rules = [rule for rule in self._rules if rule["remaining"] is None or rule["remaining"] > 0]
        return plan
