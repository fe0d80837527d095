# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Whole images: a tag or digest -> the verified manifest for one platform and its blobs.

Takes a (retrying) boto3 ECR client and plain values, so it can be tested without Ansible.
An image that cannot be resolved raises amazon.aws's ``AnsibleAWSError``, whose message names
the image and says why, with ``error_code`` for the result.
"""

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError

from ansible_collections.airgap.ecr.plugins.module_utils.ecr import call
from ansible_collections.airgap.ecr.plugins.module_utils.ecr import layer_urls
from ansible_collections.airgap.ecr.plugins.module_utils.ecr_errors import ECRCallError
from ansible_collections.airgap.ecr.plugins.module_utils.ecr_errors import explain
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import ACCEPTED_MEDIA_TYPES
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import ManifestError
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import format_platform
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import parse_manifest
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import select_platform
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import verify_digest
from ansible_collections.airgap.ecr.plugins.module_utils.redaction import redact

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


def image_error(message, code, exception=None):
    """An image that cannot be resolved: ``message`` (redacted), ``error_code`` for the result."""
    return AnsibleAWSError(message=redact(message), exception=exception, error_code=code)


def image_reference(repository, tag=None, digest=None):
    """``repository:tag`` or ``repository@digest``, for messages."""
    return f"{repository}@{digest}" if digest else f"{repository}:{tag}"


def call_error(error, reference, repository, registry_id=None, region=None):
    """The AnsibleAWSError for image ``reference`` when its BatchGetImage call failed (an ECRCallError)."""
    explanation = explain(error.code, error.aws_message, repository, registry_id, region, "ecr:BatchGetImage")
    return image_error(
        f"Could not get image {reference}: {explanation}", error.code, None if error.known else error.exception
    )


def failure_error(failure, reference, repository):
    """The AnsibleAWSError for an entry of BatchGetImage's ``failures`` (or ``{}`` when ECR said nothing)."""
    code = failure.get("failureCode", "ImageNotFound")
    reason = IMAGE_FAILURES.get(code, "ECR did not return the image").format(reference=reference, repository=repository)
    said = failure.get("failureReason", "no reason")
    return image_error(f"Could not get image {reference}: {code}: {reason} (AWS said: {said})", code)


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
    except ECRCallError as e:
        raise call_error(e, reference, repository, registry_id, region) from None
    images = response.get("images") or []
    if not images:
        raise failure_error((response.get("failures") or [{}])[0], reference, repository)
    image = images[0]
    return image.get("imageManifest"), image.get("imageManifestMediaType"), image.get("imageId", {}).get("imageDigest")


def _checked(text, expected, what):
    try:
        verify_digest(text, expected, what)
    except ManifestError as e:
        raise image_error(str(e), "DigestMismatch") from None


def _parsed(text, media_type, reference):
    try:
        return parse_manifest(text, media_type)
    except ManifestError as e:
        raise image_error(f"Image {reference}: {e}", "UnsupportedManifest") from None


def top_manifest(text, media_type, expected, reference):
    """The manifest (or index) ECR gave for image ``reference``, verified against ``expected`` and parsed."""
    _checked(text, expected, f"the manifest of {reference}")
    return _parsed(text, media_type, reference)


def platform_entry(index, platform, reference):
    """The entry of ``index`` (parsed) for ``platform`` and the platform it names, as text; else AnsibleAWSError."""
    try:
        entry = select_platform(index, platform)
    except ManifestError as e:
        raise image_error(f"Image {reference}: {e}", "PlatformNotFound") from None
    return entry, format_platform(entry["platform"])


def child_manifest(text, media_type, entry, repository, reference, chosen_platform):
    """The platform manifest the index of ``reference`` names in ``entry``, verified against it and parsed."""
    child = image_reference(repository, digest=entry["digest"])
    _checked(text, entry["digest"], f"the manifest {child} that the index of {reference} names for {chosen_platform}")
    parsed = _parsed(text, media_type or entry["media_type"], child)
    if parsed["kind"] != "image":
        raise image_error(
            f"Image {reference}: the index entry for {chosen_platform} is itself an index; nested indexes are not "
            "supported",
            "UnsupportedManifest",
        )
    return parsed


def image_record(parsed, text, image_digest, index_digest=None, chosen_platform=None):
    """What resolve_image returns, from the parsed image manifest ``parsed`` and its exact ``text``."""
    return {
        "image_digest": image_digest,
        "index_digest": index_digest,
        "media_type": parsed["media_type"],
        "manifest": text,
        "platform": chosen_platform,
        "config": parsed["config"],
        "layers": parsed["layers"],
    }


def resolve_image(client, repository, platform, tag=None, digest=None, registry_id=None, region=None):
    """The image's manifest for ``platform`` (a dict from parse_platform), verified.

    Every manifest's exact bytes are checked against the digest asked for, the digest ECR
    reports for the tag, or the digest the index names. Returns ``{image_digest,
    index_digest, media_type, manifest, platform, config, layers}``.
    """
    reference = image_reference(repository, tag, digest)
    image_id = {"imageDigest": digest} if digest else {"imageTag": tag}
    text, media_type, reported = get_manifest(client, repository, image_id, registry_id, region)
    top = top_manifest(text, media_type, digest or reported, reference)
    if top["kind"] != "index":
        return image_record(top, text, digest or reported)
    entry, chosen_platform = platform_entry(top, platform, reference)
    child_text, child_type, _reported = get_manifest(
        client, repository, {"imageDigest": entry["digest"]}, registry_id, region
    )
    parsed = child_manifest(child_text, child_type, entry, repository, reference, chosen_platform)
    return image_record(parsed, child_text, entry["digest"], digest or reported, chosen_platform)


def descriptor(blob):
    """A blob descriptor as results show it: digest, media_type, size (and foreign, urls for layers)."""
    shown = dict(blob)
    shown.pop("annotations", None)
    shown.pop("platform", None)
    return shown


def _blob_result(blob):
    return dict(descriptor(blob), download_url=None, expires_at=None)


def image_layers_result(image, resolved=()):
    """ecr_image_layers' result for ``image`` (what resolve_image returns) and its ``resolved`` layer URLs.

    Every blob gets the ``download_url`` and ``expires_at`` of its digest (None when it was
    not resolved: foreign layers, or no URLs asked for); ``expires_at`` is the earliest.
    """
    by_digest = {layer["layer_digest"]: layer for layer in resolved}
    config = _blob_result(image["config"])
    layers = [_blob_result(layer) for layer in image["layers"]]
    for blob in [config] + layers:
        url = by_digest.get(blob["digest"], {})
        blob["download_url"] = url.get("download_url")
        blob["expires_at"] = url.get("expires_at")
    expiries = sorted(blob["expires_at"] for blob in [config] + layers if blob["expires_at"])
    return {
        "changed": False,
        "image_digest": image["image_digest"],
        "index_digest": image["index_digest"],
        "media_type": image["media_type"],
        "manifest": image["manifest"],
        "platform": image["platform"],
        "config": config,
        "layers": layers,
        "total_size": config["size"] + sum(layer["size"] for layer in layers),
        "expires_at": expiries[0] if expiries else None,
    }


def in_registry(image):
    """The distinct digests of the image's config and layers whose bytes ECR holds (not foreign layers)."""
    blobs = [image["config"]] + image["layers"]
    return list(dict.fromkeys(blob["digest"] for blob in blobs if not blob.get("foreign")))


def resolve_image_layers(client, request, download_urls=True, region=None, allow_http=False):
    """ecr_image_layers' whole work for ``request`` (an ECRRequest): its result, or AnsibleAWSError."""
    image = resolve_image(
        client,
        request.repository,
        request.platform,
        tag=request.image_tag,
        digest=request.image_digest,
        registry_id=request.registry_id,
        region=region,
    )
    resolved = layer_urls(client, request, in_registry(image), region, allow_http) if download_urls else []
    return image_layers_result(image, resolved)
