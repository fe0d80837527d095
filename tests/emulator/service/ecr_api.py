# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ECR API (X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.*)."""

import fnmatch
import json
import re
import time
import traceback

from moto.ecr.models import Image as MotoImage

from .common import ACCOUNT_ID
from .common import DEFAULT_PAGE_SIZE
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
from .manifests import SCHEMA1_MEDIA_TYPES
from .manifests import describe_manifest
from .manifests import referenced_blobs
from .manifests import tampered_manifests
from .sigv4 import access_key_of
from .sigv4 import authenticate


class EcrApi:
    """The ECR JSON API: own handlers for what moto lacks or gets wrong, moto for the rest; a part of EmulatorApp."""

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
                payload = handler(self, params)
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
            raise invalid_parameter(
                "imageManifestMediaType", f"media type '{given}' does not match the manifest's mediaType '{declared}'"
            )
        media_type = given or declared or (SCHEMA1_MEDIA_TYPES[0] if parsed.get("schemaVersion") == 1 else None)
        if not media_type:
            raise invalid_parameter("imageManifestMediaType", "image manifest media type not provided")
        digest = sha256_digest(manifest.encode("utf-8"))
        if params.get("imageDigest") and params["imageDigest"] != digest:
            message = (
                f"The image digest '{params['imageDigest']}' does not match the digest '{digest}' of the manifest."
            )
            raise ApiError("ImageDigestDoesNotMatchException", message)
        tag = params.get("imageTag")
        info = describe_manifest(manifest)
        with self.lock:
            repository = self._repository(params)
            label = f"repository with name '{repository.name}' in the registry with id '{repository.registry_id}'"
            if info["kind"] in ("image", "schema1"):
                missing = [
                    blob for blob in referenced_blobs(info, include_foreign=False) if blob not in repository.layers
                ]
                if missing:
                    raise ApiError(
                        "LayersNotFoundException",
                        f"Layers with digests {json.dumps(missing)} required for pushing image into {label} do not "
                        "exist",
                    )
            elif info["kind"] == "index":
                present = {image.image_digest for image in repository.images}
                missing = [child["digest"] for child in info["manifests"] if child["digest"] not in present]
                if missing:
                    message = (
                        f"Manifests with digests {json.dumps(missing)} referenced by the manifest list do not exist "
                        f"in the {label}"
                    )
                    raise ApiError("ReferencedImagesNotFoundException", message)
            existing = next((image for image in repository.images if image.image_digest == digest), None)
            if existing is not None and (tag is None or tag in existing.image_tags):
                raise ApiError(
                    "ImageAlreadyExistsException",
                    f"Image with digest '{digest}' and tag '{tag if tag is not None else 'null'}' already exists in "
                    f"the {label}",
                )
            holders = [
                image
                for image in repository.images
                if tag is not None and tag in image.image_tags and image is not existing
            ]
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
        if accepted is not None and (
            not isinstance(accepted, list) or not all(isinstance(item, str) for item in accepted)
        ):
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
                    failure = (
                        "InvalidImageDigest",
                        f"Invalid request parameters: image digest should satisfy the regex '{DIGEST_PATTERN}'",
                    )
                else:
                    by_digest = (
                        next((item for item in repository.images if item.image_digest == digest), None)
                        if digest
                        else None
                    )
                    by_tag = next((item for item in repository.images if tag in item.image_tags), None) if tag else None
                    if digest and tag and by_digest is not None and by_tag is not by_digest:
                        failure = (
                            "ImageTagDoesNotMatchDigest",
                            "Invalid request parameters: given tag does not map to given digest",
                        )
                    else:
                        image = by_digest if digest else by_tag
                        if image is None:
                            failure = ("ImageNotFound", "Requested image not found")
                if failure:
                    result["failures"].append(
                        {"imageId": image_id, "failureCode": failure[0], "failureReason": failure[1]}
                    )
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
                        matches = (
                            item
                            for item in repository.images
                            if (not digest or item.image_digest == digest) and (not tag or tag in item.image_tags)
                        )
                        image = next(matches, None)
                    if image is None:
                        raise ApiError(
                            "ImageNotFoundException",
                            "The image with imageId "
                            f"{{imageDigest:'{digest or 'null'}', imageTag:'{tag or 'null'}'}} does not exist "
                            f"within the repository with name '{repository.name}' in the registry with id "
                            f"'{repository.registry_id}'",
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
