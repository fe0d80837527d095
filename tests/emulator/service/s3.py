# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""S3: the pre-signed blob URLs GetDownloadUrlForLayer hands out, and moto's S3 for the rest."""

import time
import traceback
import uuid

from werkzeug.wrappers import Response

from .common import ApiError
from .common import error_code_of
from .common import s3_error_response
from .common import utcnow_epoch
from .ranges import RangeNotSatisfiable
from .ranges import content_range
from .ranges import corrupted
from .ranges import paced
from .ranges import parse_range
from .sigv4 import access_key_of
from .sigv4 import check_presigned


class S3Api:
    """S3: pre-signed blob GETs served here (Range, faults), other requests to moto; a part of EmulatorApp."""

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
            response = s3_error_response(
                ApiError("InternalError", "We encountered an internal error. Please try again.", 500), request.path
            )
        entry["status"] = response.status_code
        entry["error_code"] = error_code_of("s3", response)
        self.log.add(entry)
        return response

    @staticmethod
    def _s3_operation(request, bucket, key):
        if not bucket:
            return "ListBuckets" if request.method == "GET" else request.method
        if not key:
            return {"GET": "ListObjects", "PUT": "CreateBucket", "DELETE": "DeleteBucket", "HEAD": "HeadBucket"}.get(
                request.method, request.method
            )
        if "uploadId" in request.args or "uploads" in request.args:
            return "MultipartUpload"
        names = {
            "GET": "GetObject",
            "PUT": "PutObject",
            "DELETE": "DeleteObject",
            "HEAD": "HeadObject",
            "POST": "PostObject",
        }
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
            check_presigned(request)
            plan = self.faults.take("GetObject", digest=key.rsplit("/", 1)[-1])
            if plan.latency_ms:
                time.sleep(plan.latency_ms / 1000.0)
            if plan.error is not None:
                raise plan.error
            with self.lock:
                stored = self.s3.get_object(bucket, key)
                if stored is None:
                    raise ApiError("NoSuchKey", "The specified key does not exist.", 404, {"Key": key})
                size, etag, modified = stored.size, stored.etag, stored.last_modified_RFC1123
            span = requested_span(range_header, size)
            data = read_stored(stored, span)
            if plan.corrupt:
                data = corrupted(data)
            headers = {
                "Content-Type": "application/octet-stream",
                "Accept-Ranges": "bytes",
                "ETag": etag,
                "Last-Modified": modified,
                "x-amz-request-id": uuid.uuid4().hex[:16].upper(),
            }
            status = 200
            if span is not None:
                headers["Content-Range"] = content_range(span, size)
                status = 206
            if plan.truncate is not None:
                data = data[: plan.truncate]
            entry["bytes"] = len(data) if request.method == "GET" else 0
            if plan.bytes_per_second and request.method == "GET":
                headers["Content-Length"] = str(len(data))
                response = Response(paced(data, plan.bytes_per_second), status=status, headers=headers)
            else:
                response = Response(data, status=status, headers=headers)
        except ApiError as error:
            response = s3_error_response(error, f"/{bucket}/{key}")
        except Exception:  # pylint: disable=broad-exception-caught
            traceback.print_exc()
            response = s3_error_response(
                ApiError("InternalError", "We encountered an internal error. Please try again.", 500),
                f"/{bucket}/{key}",
            )
        entry["status"] = response.status_code
        entry["error_code"] = error_code_of("s3", response)
        self.log.add(entry)
        return response


def read_stored(stored, span):
    """The bytes of moto's stored object ``stored``, only those of ``span`` (first, last) when one is given.

    moto's ``value`` reads the whole object; a range of a blob of gigabytes reads its span alone,
    from moto's buffer under moto's lock on the key.
    """
    if span is None:
        return stored.value
    with stored.lock:
        buffer = stored._value_buffer  # pylint: disable=protected-access
        buffer.seek(span[0])
        return buffer.read(span[1] - span[0] + 1)


def requested_span(header, size):
    """The (first, last) a ``Range`` header asks for, None for the whole blob, or S3's InvalidRange."""
    if not header:
        return None
    try:
        return parse_range(header, size)
    except RangeNotSatisfiable as exc:
        extra = {"RangeRequested": header, "ActualObjectSize": size}
        raise ApiError("InvalidRange", "The requested range is not satisfiable", 416, extra) from exc
