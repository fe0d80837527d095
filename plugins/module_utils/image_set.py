# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A set of images resolved for one platform in one run: few ECR calls, every blob once.

BatchGetImage is called per (registry id, repository) with up to 100 image ids a call, and
once more, batched the same way, for the platform manifests that indexes name. Each manifest
is verified as images.resolve_image verifies it (the same functions). GetDownloadUrlForLayer
is called once per distinct blob of the whole set (ecr.layer_urls), through the first
repository, in input order, whose image has the blob. Names and validation: image_names.py.
Runs on the controller only; takes a (retrying) boto3 ECR client and plain values.
"""

from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError

from ansible_collections.airgap.ecr.plugins.module_utils.ecr import call
from ansible_collections.airgap.ecr.plugins.module_utils.ecr import ecr_client
from ansible_collections.airgap.ecr.plugins.module_utils.ecr import layer_urls
from ansible_collections.airgap.ecr.plugins.module_utils.ecr_errors import ECRCallError
from ansible_collections.airgap.ecr.plugins.module_utils.ecr_request import DEFAULT_CONCURRENCY
from ansible_collections.airgap.ecr.plugins.module_utils.ecr_request import MAX_CONCURRENCY
from ansible_collections.airgap.ecr.plugins.module_utils.ecr_request import ECRRequest
from ansible_collections.airgap.ecr.plugins.module_utils.ecr_request import validate_ecr_request
from ansible_collections.airgap.ecr.plugins.module_utils.image_names import digest_name
from ansible_collections.airgap.ecr.plugins.module_utils.image_names import dns_suffix
from ansible_collections.airgap.ecr.plugins.module_utils.image_names import full_name
from ansible_collections.airgap.ecr.plugins.module_utils.image_names import validate_image_set
from ansible_collections.airgap.ecr.plugins.module_utils.images import call_error
from ansible_collections.airgap.ecr.plugins.module_utils.images import child_manifest
from ansible_collections.airgap.ecr.plugins.module_utils.images import descriptor
from ansible_collections.airgap.ecr.plugins.module_utils.images import failure_error
from ansible_collections.airgap.ecr.plugins.module_utils.images import image_record
from ansible_collections.airgap.ecr.plugins.module_utils.images import image_reference
from ansible_collections.airgap.ecr.plugins.module_utils.images import in_registry
from ansible_collections.airgap.ecr.plugins.module_utils.images import platform_entry
from ansible_collections.airgap.ecr.plugins.module_utils.images import resolve_image_layers
from ansible_collections.airgap.ecr.plugins.module_utils.images import top_manifest
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import ACCEPTED_MEDIA_TYPES
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import ManifestError
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import format_platform
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import parse_platform
from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_concurrency
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_registry_id

# BatchGetImage takes at most 100 image ids a call (the ECR API model's ImageIdentifierList).
BATCH_SIZE = 100

ImageSetRequest = namedtuple("ImageSetRequest", "images platform concurrency dns_suffix region")
ImageSetRequest.__doc__ = """A checked image set (image_names.validate_image_set): ImageSpecs, the platform (a dict
from parse_platform), the bound on GetDownloadUrlForLayer calls in flight, and the region and its DNS suffix."""

# One manifest that ECR gave: its text, media type, the digest ECR reports, the registry id ECR answered with.
Answer = namedtuple("Answer", "text media_type digest registry_id")


def _key(image_id):
    return ("imageDigest", image_id["imageDigest"]) if "imageDigest" in image_id else ("imageTag", image_id["imageTag"])


def _params(repository, registry_id, image_ids):
    params = {"repositoryName": repository, "imageIds": image_ids, "acceptedMediaTypes": ACCEPTED_MEDIA_TYPES}
    if registry_id is not None:
        params["registryId"] = registry_id
    return params


def _answers(response, wanted):
    """BatchGetImage's ``response`` for the ids ``wanted``: ``{key: Answer or failure dict}``."""
    found = {}
    for image in response.get("images") or []:
        image_id = image.get("imageId") or {}
        answer = Answer(
            image.get("imageManifest"),
            image.get("imageManifestMediaType"),
            image_id.get("imageDigest"),
            image.get("registryId"),
        )
        for key in (("imageTag", image_id.get("imageTag")), ("imageDigest", image_id.get("imageDigest"))):
            if key in wanted and key not in found:
                found[key] = answer
    for failure in response.get("failures") or []:
        key = _key(failure.get("imageId") or {"imageTag": None})
        found.setdefault(key, failure)
    return {key: found.get(key, {}) for key in wanted}


def batch_get_images(client, repository, registry_id, image_ids, region=None):
    """BatchGetImage for ``image_ids`` (distinct) of one repository, 100 a call.

    Returns ``{key: Answer | failure dict | ECRCallError}`` where ``key`` is
    ``("imageTag", tag)`` or ``("imageDigest", digest)``: a failure dict is an entry of
    ECR's ``failures`` (``{}`` when ECR said nothing about the id), an ECRCallError the
    error of the whole call.
    """
    result = {}
    for first in range(0, len(image_ids), BATCH_SIZE):
        chunk = image_ids[first : first + BATCH_SIZE]
        wanted = [_key(image_id) for image_id in chunk]
        subject = f"{len(chunk)} images of repository {repository}"
        try:
            response = call(client, "batch_get_image", subject, **_params(repository, registry_id, chunk))
        except ECRCallError as e:
            result.update((key, e) for key in wanted)
            continue
        result.update(_answers(response, wanted))
    return result


def _grouped(items, group_of):
    groups = {}
    for item in items:
        groups.setdefault(group_of(item), []).append(item)
    return groups


def get_manifests(client, wanted, region=None):
    """``wanted``: ``[(repository, registry_id, image_id)]``; every distinct one asked once, batched per repository.

    Returns ``{(repository, registry_id, key): Answer | failure dict | ECRCallError}``.
    """
    result = {}
    for (repository, registry_id), members in _grouped(wanted, lambda item: item[:2]).items():
        image_ids = list({_key(image_id): image_id for _repo, _registry, image_id in members}.values())
        for key, answer in batch_get_images(client, repository, registry_id, image_ids, region).items():
            result[(repository, registry_id, key)] = answer
    return result


def _image_id(spec):
    return {"imageDigest": spec.digest} if spec.digest else {"imageTag": spec.tag}


def _answer_of(answers, spec, image_id, region, reference=None):
    """The Answer for ``image_id`` of ``spec``'s repository, or raise the AnsibleAWSError that names the image."""
    reference = reference or image_reference(spec.repository, spec.tag, spec.digest)
    answer = answers[(spec.repository, spec.registry_id, _key(image_id))]
    if isinstance(answer, ECRCallError):
        raise call_error(answer, reference, spec.repository, spec.registry_id, region)
    if not isinstance(answer, Answer):
        raise failure_error(answer, reference, spec.repository)
    return answer


def _first_pass(answers, spec, platform, region):
    """``(record, None)`` for an image, ``(None, (entry, platform text, index digest, answer))`` for an index."""
    answer = _answer_of(answers, spec, _image_id(spec), region)
    reference = image_reference(spec.repository, spec.tag, spec.digest)
    top = top_manifest(answer.text, answer.media_type, spec.digest or answer.digest, reference)
    if top["kind"] != "index":
        return dict(image_record(top, answer.text, spec.digest or answer.digest), registry_id=answer.registry_id), None
    entry, chosen = platform_entry(top, platform, reference)
    return None, (entry, chosen, spec.digest or answer.digest, answer)


def _second_pass(answers, spec, pending, region):
    entry, chosen, index_digest, index_answer = pending
    reference = image_reference(spec.repository, spec.tag, spec.digest)
    answer = _answer_of(answers, spec, {"imageDigest": entry["digest"]}, region, reference)
    parsed = child_manifest(answer.text, answer.media_type, entry, spec.repository, reference, chosen)
    record = image_record(parsed, answer.text, entry["digest"], index_digest, chosen)
    return dict(record, registry_id=answer.registry_id or index_answer.registry_id)


def resolve_images(client, request):
    """Every image of ``request`` (an ImageSetRequest): ``(records, failures)``, both keyed by input position.

    A record is what images.resolve_image returns, plus ``registry_id``; a failure is the
    AnsibleAWSError that names the image and says why. Two rounds of batched BatchGetImage.
    """
    records, failures, pending = {}, {}, {}
    wanted = [(spec.repository, spec.registry_id, _image_id(spec)) for spec in request.images]
    answers = get_manifests(client, wanted, request.region)
    for spec in request.images:
        try:
            records[spec.position], index = _first_pass(answers, spec, request.platform, request.region)
        except AnsibleAWSError as e:
            failures[spec.position] = e
            continue
        if index is not None:
            pending[spec.position] = (spec, index)
    wanted = [
        (spec.repository, spec.registry_id, {"imageDigest": index[0]["digest"]}) for spec, index in pending.values()
    ]
    answers = get_manifests(client, wanted, request.region) if wanted else {}
    for position, (spec, index) in pending.items():
        try:
            records[position] = _second_pass(answers, spec, index, request.region)
        except AnsibleAWSError as e:
            del records[position]
            failures[position] = e
    return records, failures


def distinct_blobs(specs, records):
    """The distinct blobs ECR holds for the set, in input order: ``{digest: (descriptor, owner, users)}``.

    ``owner`` is ``(repository, registry_id)`` of the first image that has the blob, ``users``
    the set of the digests of the image manifests that use it.
    """
    blobs = {}
    for spec in specs:
        record = records[spec.position]
        by_digest = {blob["digest"]: blob for blob in [record["config"]] + record["layers"]}
        for digest in in_registry(record):
            if digest not in blobs:
                shown = {key: by_digest[digest].get(key) for key in ("digest", "size", "media_type")}
                blobs[digest] = (shown, (spec.repository, spec.registry_id), set())
            blobs[digest][2].add(record["image_digest"])
    return blobs


def _owner_urls(client, owner, digests, concurrency, region, allow_http):
    repository, registry_id = owner
    request = ECRRequest(repository, registry_id, concurrency, digests, None, None, None)
    try:
        return layer_urls(client, request, digests, region, allow_http), None
    except AnsibleAWSError as e:
        return [], e


def blob_urls(client, blobs, concurrency, region=None, allow_http=False):
    """A download URL for every blob of ``blobs`` (distinct_blobs), each asked once through its owner.

    The repositories are served side by side, with at most ``concurrency`` requests in flight
    in all. Returns ``{digest: {layer_digest, download_url, expires_at}}``, or raises one
    AnsibleAWSError naming every digest that failed, with ``failures``.
    """
    by_owner = _grouped(blobs, lambda digest: blobs[digest][1])
    workers = min(len(by_owner), concurrency)
    share = max(1, concurrency // max(1, workers))
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        outcomes = list(
            pool.map(lambda item: _owner_urls(client, item[0], item[1], share, region, allow_http), by_owner.items())
        )
    errors = [error for _urls, error in outcomes if error is not None]
    if errors:
        unexpected = [error.exception for error in errors if error.exception is not None]
        raise AnsibleAWSError(
            message=" ".join(error.message for error in errors),
            exception=unexpected[0] if unexpected else None,
            failures=[failure for error in errors for failure in error.kwargs.get("failures", [])],
        )
    return {url["layer_digest"]: url for urls, _error in outcomes for url in urls}


def _image_result(spec, record, region, dns_suffix):
    name = spec.name or full_name(record["registry_id"], region, dns_suffix, spec.repository, spec.tag, spec.digest)
    return {
        "repository": spec.repository,
        "tag": spec.tag,
        "digest": spec.digest,
        "registry_id": record["registry_id"],
        "name": name,
        "digest_name": digest_name(name, record["image_digest"]),
        "image_digest": record["image_digest"],
        "index_digest": record["index_digest"],
        "media_type": record["media_type"],
        "manifest": record["manifest"],
        "platform": record["platform"],
        "config": descriptor(record["config"]),
        "layers": [descriptor(layer) for layer in record["layers"]],
    }


def image_set_result(request, records, blobs, urls=None):
    """ecr_image_layers' result for a set: ``images`` in input order, the distinct ``blobs`` with their URLs,
    ``total_size`` (of those blobs), the earliest ``expires_at``, and the counts."""
    urls = urls or {}
    shown = []
    for digest, (blob, _owner, _users) in blobs.items():
        url = urls.get(digest, {})
        shown.append(dict(blob, download_url=url.get("download_url"), expires_at=url.get("expires_at")))
    expiries = sorted(blob["expires_at"] for blob in shown if blob["expires_at"])
    return {
        "changed": False,
        "platform": format_platform(request.platform),
        "images": [
            _image_result(spec, records[spec.position], request.region, request.dns_suffix) for spec in request.images
        ],
        "blobs": shown,
        "total_size": sum(blob["size"] for blob in shown),
        "expires_at": expiries[0] if expiries else None,
        "image_count": len(request.images),
        "blob_count": len(shown),
        "shared_blob_count": sum(1 for _blob, _owner, users in blobs.values() if len(users) > 1),
    }


def set_failure(request, failures):
    """One AnsibleAWSError for the images that failed: each named, ``failures`` listing them in input order."""
    specs = [spec for spec in request.images if spec.position in failures]
    listed = []
    for spec in specs:
        error = failures[spec.position]
        listed.append(
            {
                "position": spec.position,
                "repository": spec.repository,
                "tag": spec.tag,
                "digest": spec.digest,
                "error_code": error.kwargs.get("error_code"),
                "error_message": error.message,
            }
        )
    unexpected = [failures[spec.position].exception for spec in specs if failures[spec.position].exception]
    header = (
        f"Could not resolve {len(specs)} of {len(request.images)} images for platform "
        f"{format_platform(request.platform)}:"
    )
    return AnsibleAWSError(
        message=" ".join(
            [header, "; ".join(f"images[{item['position']}]: {item['error_message']}" for item in listed)]
        ),
        exception=unexpected[0] if unexpected else None,
        failures=listed,
    )


def resolve_image_set(client, request, download_urls=True, allow_http=False):
    """ecr_image_layers' whole work for ``request`` (an ImageSetRequest): its result, or AnsibleAWSError."""
    records, failures = resolve_images(client, request)
    if failures:
        raise set_failure(request, failures)
    blobs = distinct_blobs(request.images, records)
    urls = blob_urls(client, blobs, request.concurrency, request.region, allow_http) if download_urls else {}
    return image_set_result(request, records, blobs, urls)


def validate_image_set_request(options, region, suffix=True):
    """The module's params with ``images`` checked before any call: an ImageSetRequest, or ValidationError.

    Keys read: ``images``, ``registry_id`` (the default of the images without one), ``platform``
    and ``concurrency``. The DNS suffix of ``region`` is needed when an image has no ``name``: checked here, or
    with ``suffix=False`` left to ``with_dns_suffix``.
    """
    specs = validate_image_set(options.get("images"), validate_registry_id(options.get("registry_id")))
    try:
        platform = parse_platform(options.get("platform") or "linux/amd64")
    except ManifestError as e:
        raise ValidationError(str(e)) from None
    concurrency = validate_concurrency(options.get("concurrency", DEFAULT_CONCURRENCY), maximum=MAX_CONCURRENCY)
    request = ImageSetRequest(specs, platform, concurrency, None, region)
    return with_dns_suffix(request) if suffix else request


def with_dns_suffix(request, loader=None):
    """``request`` with the DNS suffix of its region when an image has no ``name``; else ValidationError."""
    if all(spec.name is not None for spec in request.images):
        return request
    return request._replace(dns_suffix=dns_suffix(request.region, loader))


def resolve_module_request(module):
    """ecr_image_layers' work: validate, then resolve one image (``repository``) or a set (``images``)."""
    params = module.params
    if params["images"] is not None:
        request = validate_image_set_request(params, module.region, suffix=False)
        client = ecr_client(module, request.concurrency)
        # No call is made before the region's DNS suffix is checked; it is read from the endpoint data that the
        # client's loader has parsed already (parsing it again cost a run about 8 % of its CPU).
        request = with_dns_suffix(request, getattr(client, "_loader", None))
        return resolve_image_set(client, request, params["download_urls"], module.allow_http)
    if params["image_tag"] is None and params["image_digest"] is None:
        raise ValidationError("one of the following is required: image_tag, image_digest (or give images instead)")
    request = validate_ecr_request(params)
    client = ecr_client(module, request.concurrency)
    return resolve_image_layers(client, request, params["download_urls"], module.region, module.allow_http)
