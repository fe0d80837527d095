# -*- coding: utf-8 -*-

# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Whole images: a tag or digest -> the verified manifest for one platform and its blobs.

Takes a (retrying) boto3 ECR client and plain values, so it can be tested without Ansible.
"""

from ansible_collections.airgap.ecr.plugins.module_utils.ecr import ECRError
from ansible_collections.airgap.ecr.plugins.module_utils.ecr import call
from ansible_collections.airgap.ecr.plugins.module_utils.ecr import explain
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import ACCEPTED_MEDIA_TYPES
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import ManifestError
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import format_platform
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import parse_manifest
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import select_platform
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import verify_digest

# BatchGetImage reports a missing image in ``failures``, not as an exception.
IMAGE_FAILURES = {
    "ImageNotFound": "ECR has no image {reference} in repository '{repository}'; check the tag or digest "
    "(aws ecr list-images --repository-name {repository} lists them) and the region",
    "ImageTagDoesNotMatchDigest": "the tag and the digest given name different images",
    "ImageReferencedByManifestList": "the image is only referenced by a manifest list",
    "KmsError": "ECR could not decrypt the image with its KMS key; check the key policy",
    "UpstreamAccessDenied": "the pull-through cache's upstream registry denied access; check its credentials",
    "UpstreamTooManyRequests": "the pull-through cache's upstream registry is rate-limiting; try again later",
    "UpstreamUnavailable": "the pull-through cache's upstream registry is unavailable; try again later",
}


class ImageError(Exception):
    """An image that cannot be resolved; the message names it and says why."""

    def __init__(self, message, code=None, exception=None):
        super().__init__(message)
        self.code = code
        self.exception = exception


def image_reference(repository, tag=None, digest=None):
    """``repository:tag`` or ``repository@digest``, for messages."""
    return f"{repository}@{digest}" if digest else f"{repository}:{tag}"


def get_manifest(client, repository, image_id, registry_id=None, region=None):
    """BatchGetImage for one image: ``(manifest text, media type, digest ECR gives)``.

    ``image_id`` is ``{"imageTag": ...}`` or ``{"imageDigest": ...}``.
    """
    reference = image_reference(repository, image_id.get("imageTag"), image_id.get("imageDigest"))
    params = {"repositoryName": repository, "imageIds": [image_id], "acceptedMediaTypes": ACCEPTED_MEDIA_TYPES}
    if registry_id is not None:
        params["registryId"] = registry_id
    try:
        response = call(client, "batch_get_image", reference, **params)
    except ECRError as e:
        message = f"Could not get image {reference}: " + explain(e.code, e.aws_message, repository, registry_id, region, "ecr:BatchGetImage")
        raise ImageError(message, e.code, None if e.known else e.exception) from None
    images = response.get("images") or []
    if not images:
        failure = (response.get("failures") or [{}])[0]
        code = failure.get("failureCode", "ImageNotFound")
        reason = IMAGE_FAILURES.get(code, "ECR did not return the image").format(reference=reference, repository=repository)
        raise ImageError(f"Could not get image {reference}: {code}: {reason} (AWS said: {failure.get('failureReason', 'no reason')})", code)
    image = images[0]
    return image.get("imageManifest"), image.get("imageManifestMediaType"), image.get("imageId", {}).get("imageDigest")


def _checked(text, expected, what):
    try:
        verify_digest(text, expected, what)
    except ManifestError as e:
        raise ImageError(str(e), "DigestMismatch") from None


def _parsed(text, media_type, reference):
    try:
        return parse_manifest(text, media_type)
    except ManifestError as e:
        raise ImageError(f"Image {reference}: {e}", "UnsupportedManifest") from None


def resolve_image(client, repository, platform, tag=None, digest=None, registry_id=None, region=None):
    """The image's manifest for ``platform`` (a dict from parse_platform), verified.

    Every manifest's exact bytes are checked against the digest asked for, the digest ECR
    reports for the tag, or the digest the index names. Returns ``{image_digest,
    index_digest, media_type, manifest, platform, config, layers}``.
    """
    reference = image_reference(repository, tag, digest)
    image_id = {"imageDigest": digest} if digest else {"imageTag": tag}
    text, media_type, reported = get_manifest(client, repository, image_id, registry_id, region)
    _checked(text, digest or reported, f"the manifest of {reference}")
    top = _parsed(text, media_type, reference)
    index_digest = None
    chosen_platform = None
    if top["kind"] == "index":
        index_digest = digest or reported
        try:
            entry = select_platform(top, platform)
        except ManifestError as e:
            raise ImageError(f"Image {reference}: {e}", "PlatformNotFound") from None
        chosen_platform = format_platform(entry["platform"])
        child = image_reference(repository, digest=entry["digest"])
        text, media_type, reported = get_manifest(client, repository, {"imageDigest": entry["digest"]}, registry_id, region)
        _checked(text, entry["digest"], f"the manifest {child} that the index of {reference} names for {chosen_platform}")
        top = _parsed(text, media_type or entry["media_type"], child)
        if top["kind"] != "image":
            raise ImageError(
                f"Image {reference}: the index entry for {chosen_platform} is itself an index; nested indexes are not supported",
                "UnsupportedManifest",
            )
        image_digest = entry["digest"]
    else:
        image_digest = digest or reported
    return {
        "image_digest": image_digest,
        "index_digest": index_digest,
        "media_type": top["media_type"],
        "manifest": text,
        "platform": chosen_platform,
        "config": top["config"],
        "layers": top["layers"],
    }
