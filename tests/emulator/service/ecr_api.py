# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ECR API (X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.*)."""

import json
import re
import time
import traceback

from .common import ACCOUNT_ID
from .common import DIGEST_PATTERN
from .common import DIGEST_RE
from .common import ECR_TARGET_PREFIX
from .common import REPOSITORY_PATTERN
from .common import REPOSITORY_RE
from .common import ApiError
from .common import ecr_error_response
from .common import ecr_response
from .common import error_code_of
from .common import invalid_parameter
from .common import sha256_digest
from .common import utcnow_epoch
from .credentials import FULL_ACCESS_KEY
from .faults import fault_digest
from .manifests import referenced_blobs
from .manifests import tampered_manifests
from .sigv4 import access_key_of
from .sigv4 import authenticate


class EcrApi:
    """The ECR JSON API: own handlers for what moto lacks or gets wrong, moto for the rest; a part of EmulatorApp.

    The handlers of the image operations are in ecr_images.py (EcrImages, also a part of EmulatorApp).
    """

    def _ecr(self, request):
        operation = request.headers["X-Amz-Target"][len(ECR_TARGET_PREFIX) :]
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
                authenticate(request, body, operation, params)
            plan = self.faults.take(operation, digest=fault_digest(operation, params))
            if plan.latency_ms:
                time.sleep(plan.latency_ms / 1000.0)
            if plan.error is not None:
                raise plan.error
            handler = self.ECR_HANDLERS.get(operation)
            if handler is not None:
                payload = getattr(self, handler)(params)
                response = ecr_response(tampered_manifests(payload) if plan.corrupt else payload)
            else:
                response = self._forward_ecr(request, body, operation, params)
        except ApiError as error:
            response = ecr_error_response(error)
        except Exception:  # pylint: disable=broad-exception-caught
            traceback.print_exc()
            response = ecr_error_response(
                ApiError("ServerException", "The emulator failed to process the request.", 500)
            )
        entry["status"] = response.status_code
        entry["error_code"] = error_code_of("ecr", response)
        self.log.add(entry)
        return response

    def _forward_ecr(self, request, body, operation, params):
        # moto routes on the Authorization header and picks the region from it (or the
        # user agent): give it a canonical one so that every client lands in our region.
        stamp = time.strftime("%Y%m%d", time.gmtime())
        access_key = access_key_of(request) or FULL_ACCESS_KEY
        credential = f"{access_key}/{stamp}/{self.region}/ecr/aws4_request"
        replace = {
            "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential={credential}, SignedHeaders=host, Signature=0",
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
            for key in [
                name for name in list(bucket.keys.keys()) if name.startswith(prefix) and "/" not in name[len(prefix) :]
            ]:
                self.s3.delete_object(self.bucket, key)

    # ECR operations implemented here (everything else goes to moto) ----------------

    def _repository(self, params):
        """The repository a request names, or RepositoryNotFoundException (also for a foreign registry id)."""
        name = params.get("repositoryName")
        registry_id = params.get("registryId") or ACCOUNT_ID
        if not isinstance(name, str) or not REPOSITORY_RE.fullmatch(name) or len(name) > 256:
            raise invalid_parameter("repositoryName", f"must satisfy regular expression '{REPOSITORY_PATTERN}'")
        repository = self.ecr.repositories.get(name)
        if repository is None or registry_id != ACCOUNT_ID or repository.registry_id != registry_id:
            raise ApiError(
                "RepositoryNotFoundException",
                f"The repository with name '{name}' does not exist in the registry with id '{registry_id}'",
            )
        return repository

    def get_download_url_for_layer(self, params):
        digest = params.get("layerDigest")
        if not isinstance(digest, str) or not DIGEST_RE.fullmatch(digest):
            raise invalid_parameter("layerDigest", f"must satisfy regular expression '{DIGEST_PATTERN}'")
        with self.lock:
            repository = self._repository(params)
            referenced = any(digest in referenced_blobs(self.manifest_info(image)) for image in list(repository.images))
        if not referenced:
            raise ApiError(
                "LayersNotFoundException",
                "The specified layers could not be found, or the specified layer is not valid for this repository.",
            )
        key = self.blob_key(repository.name, digest)
        if not self.blob_exists(key):
            raise ApiError(
                "LayerInaccessibleException",
                "The specified layer is not available because it is not associated with an image. Unassociated "
                "image layers may be cleaned up at any time.",
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
                    f"Upload with id '{upload_id}' is not found in repository with name '{repository.name}' in "
                    f"registry with id '{repository.registry_id}'",
                )
            if (
                not isinstance(digests, list)
                or len(digests) != 1
                or not isinstance(digests[0], str)
                or not DIGEST_RE.fullmatch(digests[0])
            ):
                raise invalid_parameter("layerDigests", "exactly one valid layer digest is required")
            data = bytes(upload.layer_parts)
            if not data:
                raise ApiError(
                    "EmptyUploadException", f"The upload with id '{upload_id}' does not contain any layer parts."
                )
            actual = sha256_digest(data)
            claimed = digests[0]
            if claimed != actual:
                del repository.uploads[upload_id]
                raise ApiError(
                    "InvalidLayerException",
                    "The layer digest calculation performed by Amazon ECR upon receipt of the image layer does not "
                    "match the digest specified. "
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
            return {
                "registryId": repository.registry_id,
                "repositoryName": repository.name,
                "uploadId": upload_id,
                "layerDigest": actual,
            }

    # The operations implemented here, by method name (the image operations are EcrImages's).
    ECR_HANDLERS = {
        "GetDownloadUrlForLayer": "get_download_url_for_layer",
        "CompleteLayerUpload": "complete_layer_upload",
        "PutImage": "put_image",
        "BatchGetImage": "batch_get_image",
        "ListImages": "list_images",
        "DescribeImages": "describe_images",
    }
