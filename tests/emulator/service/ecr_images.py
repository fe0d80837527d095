# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ECR image operations: PutImage, BatchGetImage, ListImages and DescribeImages."""

import fnmatch
import json

from moto.ecr.models import Image as MotoImage

from .common import ACCOUNT_ID
from .common import DEFAULT_PAGE_SIZE
from .common import DIGEST_PATTERN
from .common import DIGEST_RE
from .common import ApiError
from .common import invalid_parameter
from .common import sha256_digest
from .manifests import SCHEMA1_MEDIA_TYPES
from .manifests import describe_manifest
from .manifests import referenced_blobs


class EcrImages:
    """Image manifests: stored byte for byte, digested as stored, references checked; a part of EmulatorApp."""

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
