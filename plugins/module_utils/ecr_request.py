# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The one validator of an ECR request, for both ECR modules and the lookup, before any call.

A request names a repository (and maybe a registry id) and either layer digests
(ecr_layer_url's ``digest``/``digests``, the lookup's terms) or an image (ecr_image_layers'
``image_tag``/``image_digest`` and ``platform``), and how many calls may be in flight.
Runs on the controller only.
"""

from collections import namedtuple

from ansible_collections.airgap.ecr.plugins.module_utils.manifest import ManifestError
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import parse_platform
from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError
from ansible_collections.airgap.ecr.plugins.module_utils.validation import unique_digests
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_concurrency
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_digest
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_image_tag
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_registry_id
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_repository

# ECR requests in flight at once from one task (the controller side's bound; the target side has its own).
DEFAULT_CONCURRENCY = 16
MAX_CONCURRENCY = 64

ECRRequest = namedtuple("ECRRequest", "repository registry_id concurrency digests image_tag image_digest platform")
ECRRequest.__doc__ = """A checked request; the fields a request does not use are None."""


def _digests(options, digests_option):
    if options.get("digest") is not None:
        return [validate_digest(options["digest"])]
    if "digests" in options:
        return unique_digests(options["digests"], option=digests_option)
    return None


def _platform(options):
    if options.get("platform") is None:
        return None
    try:
        return parse_platform(options["platform"])
    except ManifestError as e:
        raise ValidationError(str(e)) from None


def validate_ecr_request(options, digests_option="digests"):
    """``options`` (a module's params, or the lookup's options and terms) checked: an ECRRequest.

    Keys read: ``repository``, ``registry_id``, ``concurrency``, and those of the request's
    kind: ``digest`` or ``digests`` (named ``digests_option`` in messages), or
    ``image_tag``/``image_digest`` and ``platform``. Raises ValidationError naming the
    value and what was expected.
    """
    repository = validate_repository(options.get("repository"))
    registry_id = validate_registry_id(options.get("registry_id"))
    digests = _digests(options, digests_option)
    image_tag = options.get("image_tag")
    image_digest = options.get("image_digest")
    return ECRRequest(
        repository=repository,
        registry_id=registry_id,
        digests=digests,
        image_tag=None if image_tag is None else validate_image_tag(image_tag),
        image_digest=None if image_digest is None else validate_digest(image_digest, "image_digest"),
        platform=_platform(options),
        concurrency=validate_concurrency(options.get("concurrency", DEFAULT_CONCURRENCY), maximum=MAX_CONCURRENCY),
    )


def request_argument_spec(**options):
    """The argument spec of an ECR module: the request options it shares (doc fragment airgap.ecr.ecr_request),
    and ``options``, its own."""
    spec = dict(
        repository=dict(type="str", required=True, aliases=["repository_name"]),
        registry_id=dict(type="str"),
        concurrency=dict(type="int", default=DEFAULT_CONCURRENCY),
    )
    spec.update(options)
    return spec
