# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What ECR's errors mean: the error of one ECR call, and the messages a person reads about it.

Every text taken from AWS is redacted (``redaction.redact``) when the error is made, so no
message built from it can carry a token, a key id or a signature.
"""

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError

from ansible_collections.airgap.ecr.plugins.module_utils.redaction import redact

# Attempts per request (amazon.aws's ``retries`` counts attempts). With delay 1 s doubling to
# at most 8 s and full jitter, a request that keeps failing gives up after at most
# 1+2+4+8+8 = 23 s of sleep.
ATTEMPTS = 6
# Error codes worth another attempt, on top of amazon.aws's default list (which already has
# Throttling, TooManyRequestsException, RequestLimitExceeded, InternalFailure, ...).
# ECR reports throttling as ThrottlingException and its own 5xx as ServerException; a proxy
# or load balancer in the path answers a bare status code, which botocore uses as the code.
RETRY_ERROR_CODES = [
    "ThrottlingException",
    "ServerException",
    "ServiceUnavailableException",
    "InternalServerError",
    "InternalServerException",
    "RequestTimeout",
    "RequestTimeoutException",
    "500",
    "502",
    "503",
    "504",
]

CREDENTIAL_HINT = (
    "check access_key/secret_key/session_token, the profile, or the AWS_* environment variables of the "
    "controller process"
)

# Error code -> (short title, what it means and what to do). "{repository}", "{registry}",
# "{region}" and "{action}" are filled in; the digests are listed by the caller.
KNOWN_ERRORS = {
    "RepositoryNotFoundException": (
        "repository not found",
        "ECR has no repository named '{repository}' in {registry} in region {region}. Check the repository name "
        "(without the registry host or a tag), the region, and registry_id when the repository belongs to another "
        "account.",
    ),
    "LayersNotFoundException": (
        "layer not found",
        "ECR has no layer with that digest in repository '{repository}'. ECR only returns download URLs for layers "
        "(and config blobs) referenced by an image in that same repository: check the digest against the manifest of "
        "an image pushed to '{repository}'.",
    ),
    "LayerInaccessibleException": (
        "layer inaccessible",
        "an image in '{repository}' references the layer, but ECR cannot access its data (for example a foreign or "
        "non-distributable layer whose bytes live outside ECR, or a layer still being replicated). Fetch it from "
        "the URL given in the image manifest, or push the image again.",
    ),
    "UnableToGetUpstreamLayerException": (
        "pull-through cache could not fetch the layer",
        "'{repository}' is a pull-through cache repository and ECR could not get the layer from the upstream "
        "registry. Check the pull-through cache rule, its upstream credentials (Secrets Manager secret) and that "
        "the upstream image still exists; pulling the image once through ECR also populates the cache.",
    ),
    "InvalidParameterException": (
        "invalid parameter",
        "ECR rejected the request's parameters (repository '{repository}', {registry}).",
    ),
    "AccessDeniedException": (
        "access denied",
        "the caller is not allowed to call {action} on repository '{repository}' in {registry}. Grant {action} on "
        "arn:aws:ecr:{region}:<account>:repository/{repository} in the caller's IAM policy, and check the "
        "repository policy when the repository belongs to another account.",
    ),
    "UnrecognizedClientException": (
        "unknown credentials",
        "AWS does not recognise the access key id (or session token): " + CREDENTIAL_HINT + ".",
    ),
    "InvalidSignatureException": (
        "wrong secret key",
        "the request signature does not match: the secret key does not belong to the access key id, or the clock "
        "of the controller is wrong; " + CREDENTIAL_HINT + ".",
    ),
    "ExpiredTokenException": (
        "expired credentials",
        "the session token has expired: refresh the temporary credentials (for example 'aws sso login' or a new "
        "assume-role session) and run again.",
    ),
    "MissingAuthenticationTokenException": (
        "unsigned request",
        "the endpoint received a request without credentials: " + CREDENTIAL_HINT + ".",
    ),
}
# Other services' (and older endpoints') names for the same errors.
for _alias, _code in (
    ("AccessDenied", "AccessDeniedException"),
    ("ValidationException", "InvalidParameterException"),
    ("InvalidClientTokenId", "UnrecognizedClientException"),
    ("SignatureDoesNotMatch", "InvalidSignatureException"),
    ("ExpiredToken", "ExpiredTokenException"),
):
    KNOWN_ERRORS[_alias] = KNOWN_ERRORS[_code]


# Answers that do not look like ECR's, found by the checks in ecr.get_layer_url: the message is ours.
UNTRUSTED_ANSWERS = ("LayerDigestMismatch", "MissingDownloadUrl", "InsecureDownloadUrl")


class ECRCallError(AnsibleAWSError):
    """One ECR call that failed, about ``subject`` (a layer digest or an image reference).

    ``code`` is the AWS error code (or this collection's name for a transport error or an
    untrusted answer), ``aws_message`` what AWS said, redacted. ``known`` is True when the
    code is one explained here; otherwise ``exception`` is the botocore exception, whose
    details amazon.aws's ``fail_json_aws`` adds to the failure.
    """

    def __init__(self, subject, code, aws_message, exception=None, known=True):
        self.subject = subject
        self.code = code
        self.aws_message = redact(aws_message)
        self.known = known
        super().__init__(message=f"{code}: {self.aws_message}", exception=exception)


def _registry_text(registry_id):
    return f"registry {registry_id}" if registry_id else "the caller's default registry"


def _explanation(code, context):
    if code in KNOWN_ERRORS:
        title, text = KNOWN_ERRORS[code]
        return f"{title}: {text.format(**context)}"
    if code == "NoCredentials":
        return "no credentials: no AWS credentials were found; " + CREDENTIAL_HINT + "."
    if code == "EndpointConnectionError":
        return (
            "endpoint unreachable: could not connect to the ECR endpoint; check endpoint_url, the region, "
            "proxies and that the controller can reach the ECR API."
        )
    if code == "ReadTimeout":
        return "read timeout: the ECR endpoint did not answer in time; retry, or raise read_timeout in aws_config."
    if code in RETRY_ERROR_CODES or code in ("Throttling", "TooManyRequestsException", "RequestLimitExceeded"):
        return (
            f"still failing after {ATTEMPTS} attempts: ECR kept throttling or failing the request; lower "
            "concurrency, or try again later."
        )
    return "unexpected error"


def explain(code, aws_message, repository, registry_id=None, region=None, action="ecr:GetDownloadUrlForLayer"):
    """What an error code means for a request on ``repository`` and what to do about it."""
    if code in UNTRUSTED_ANSWERS:
        return (
            f"unexpected answer: {aws_message} The endpoint does not answer as ECR does: check endpoint_url "
            "and the proxies between the controller and ECR."
        )
    context = {
        "repository": repository,
        "registry": _registry_text(registry_id),
        "region": region or "(no region)",
        "action": action,
    }
    return f"{_explanation(code, context)} (AWS said: {code}: {aws_message})"


def describe_failures(failures, repository, total, registry_id=None, region=None):
    """One message for every failed digest, grouped by error code, each digest named."""
    where = f"in repository '{repository}' ({_registry_text(registry_id)}, region {region or '(no region)'})"
    if total == 1 and len(failures) == 1:
        header = f"Could not get a download URL for layer {failures[0].subject} {where}."
    else:
        header = f"Could not get download URLs for {len(failures)} of {total} layers {where}."
    groups = {}
    for failure in failures:
        key = (failure.code, failure.aws_message if failure.code not in KNOWN_ERRORS else "")
        groups.setdefault(key, []).append(failure)
    parts = [header]
    for members in groups.values():
        first = members[0]
        digests = ", ".join(member.subject for member in members)
        explanation = explain(first.code, first.aws_message, repository, registry_id, region)
        parts.append(f"{first.code} for {digests}: {explanation}")
    return " ".join(parts)


def failure_results(failures):
    """The ``failures`` return value: one entry a digest, in input order."""
    return [
        {"layer_digest": failure.subject, "error_code": failure.code, "error_message": failure.aws_message}
        for failure in failures
    ]


def failures_error(failures, repository, total, registry_id=None, region=None):
    """One AnsibleAWSError for the digests that failed: every one named, ``failures`` as its extra result.

    It wraps the botocore exception of the first error not explained here, so that the
    module's failure has amazon.aws's details of it.
    """
    unexpected = [failure.exception for failure in failures if not failure.known]
    return AnsibleAWSError(
        message=describe_failures(failures, repository, total, registry_id, region),
        exception=unexpected[0] if unexpected else None,
        failures=failure_results(failures),
    )
