# -*- coding: utf-8 -*-

# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""ECR calls: layer download URLs, with retries, bounded concurrency and readable errors.

Everything here takes a boto3 ECR client (wrapped by amazon.aws's retrying wrapper) and
plain values, so that it can be tested without Ansible.
"""

from concurrent.futures import ThreadPoolExecutor
from functools import wraps

try:
    import botocore.config
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
    from botocore.exceptions import ConnectTimeoutError
    from botocore.exceptions import EndpointConnectionError
    from botocore.exceptions import NoCredentialsError
    from botocore.exceptions import ReadTimeoutError
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

from ansible_collections.airgap.ecr.plugins.module_utils.url_expiry import url_expires_at

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
# Attempts per request (amazon.aws's ``retries`` counts attempts). With delay 1 s doubling to
# at most 8 s and full jitter, a request that keeps failing gives up after at most
# 1+2+4+8+8 = 23 s of sleep.
ATTEMPTS = 6
RETRY_DELAY = 1
RETRY_MAX_DELAY = 8

DEFAULT_CONCURRENCY = 8
MAX_CONCURRENCY = 64

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


class ECRError(Exception):
    """One ECR request that failed, about ``subject`` (a layer digest or an image reference).

    ``known`` is True when the error code is one we explain; otherwise ``exception`` is
    the botocore exception to hand to ``fail_json_aws``.
    """

    def __init__(self, subject, code, aws_message, exception=None, known=True):
        super().__init__(f"{code}: {aws_message}")
        self.subject = subject
        self.code = code
        self.aws_message = aws_message
        self.exception = exception
        self.known = known


def per_call_retry(func):
    """amazon.aws's jittered backoff, with a backoff schedule of its own for every call.

    One ``AWSRetry.jittered_backoff()`` decorator shares a single backoff iterator between
    all the calls it wraps; with requests in flight on several threads their delays would
    compound. A fresh decorator per call keeps each request to 1, 2, 4, 8, 8 s at most.
    """

    @wraps(func)
    def retrying(*args, **kwargs):
        decorator = AWSRetry.jittered_backoff(
            retries=ATTEMPTS,
            delay=RETRY_DELAY,
            max_delay=RETRY_MAX_DELAY,
            catch_extra_error_codes=RETRY_ERROR_CODES,
        )
        return decorator(func)(*args, **kwargs)

    return retrying


def ecr_client(module, concurrency=DEFAULT_CONCURRENCY):
    """An ECR client from the module's AWS options, retrying throttling and 5xx with jittered backoff.

    botocore's own retries are turned off so that the number of attempts is the one stated
    in ATTEMPTS (the ``aws_config`` option can still set botocore's). The connection pool is
    large enough for ``concurrency`` requests in flight.
    """
    config = botocore.config.Config(
        retries={"total_max_attempts": 1},
        max_pool_connections=max(10, concurrency),
    )
    return module.client("ecr", retry_decorator=per_call_retry, config=config)


def _error_of(exception):
    error = exception.response.get("Error", {})
    return error.get("Code", "Unknown"), error.get("Message", str(exception))


def call(client, operation, subject, **params):
    """``client.<operation>(**params)`` with retries; failures become ECRError about ``subject``."""
    try:
        return getattr(client, operation)(aws_retry=True, **params)
    except is_boto3_error_code(list(KNOWN_ERRORS)) as e:
        code, message = _error_of(e)
        raise ECRError(subject, code, message, exception=e) from e
    except ClientError as e:  # pylint: disable=duplicate-except
        code, message = _error_of(e)
        raise ECRError(subject, code, message, exception=e, known=False) from e
    except NoCredentialsError as e:
        raise ECRError(subject, "NoCredentials", str(e), exception=e) from e
    except (EndpointConnectionError, ConnectTimeoutError) as e:
        raise ECRError(subject, "EndpointConnectionError", str(e), exception=e) from e
    except ReadTimeoutError as e:
        raise ECRError(subject, "ReadTimeout", str(e), exception=e) from e
    except BotoCoreError as e:
        raise ECRError(subject, type(e).__name__, str(e), exception=e, known=False) from e


def get_layer_url(client, repository, digest, registry_id=None):
    """Resolve one digest: ``{layer_digest, download_url, expires_at}``, or raise ECRError."""
    params = {"repositoryName": repository, "layerDigest": digest}
    if registry_id is not None:
        params["registryId"] = registry_id
    response = call(client, "get_download_url_for_layer", digest, **params)
    url = response.get("downloadUrl")
    return {
        "layer_digest": response.get("layerDigest", digest),
        "download_url": url,
        "expires_at": url_expires_at(url),
    }


def resolve_layer_urls(client, repository, digests, registry_id=None, concurrency=DEFAULT_CONCURRENCY):
    """Resolve many digests with at most ``concurrency`` requests in flight.

    ``digests`` must already be validated and free of duplicates. Returns ``(layers,
    failures)``: the resolved layers in the order of ``digests`` and an ECRError for
    every digest that failed (all of them are attempted).
    """

    def attempt(digest):
        try:
            return get_layer_url(client, repository, digest, registry_id), None
        except ECRError as e:
            return None, e

    if len(digests) == 1:
        outcomes = [attempt(digests[0])]
    else:
        with ThreadPoolExecutor(max_workers=min(concurrency, len(digests))) as pool:
            outcomes = list(pool.map(attempt, digests))
    layers = [layer for layer, failure in outcomes if failure is None]
    failures = [failure for layer, failure in outcomes if failure is not None]
    return layers, failures


def _registry_text(registry_id):
    return f"registry {registry_id}" if registry_id else "the caller's default registry"


def explain(code, aws_message, repository, registry_id=None, region=None, action="ecr:GetDownloadUrlForLayer"):
    """What an error code means for a request on ``repository`` and what to do about it."""
    context = {
        "repository": repository,
        "registry": _registry_text(registry_id),
        "region": region or "(no region)",
        "action": action,
    }
    if code in KNOWN_ERRORS:
        title, text = KNOWN_ERRORS[code]
        explanation = f"{title}: {text.format(**context)}"
    elif code == "NoCredentials":
        explanation = "no credentials: no AWS credentials were found; " + CREDENTIAL_HINT + "."
    elif code == "EndpointConnectionError":
        explanation = (
            "endpoint unreachable: could not connect to the ECR endpoint; check endpoint_url, the region, "
            "proxies and that the controller can reach the ECR API."
        )
    elif code == "ReadTimeout":
        explanation = (
            "read timeout: the ECR endpoint did not answer in time; retry, or raise read_timeout in aws_config."
        )
    elif code in RETRY_ERROR_CODES or code in ("Throttling", "TooManyRequestsException", "RequestLimitExceeded"):
        explanation = (
            f"still failing after {ATTEMPTS} attempts: ECR kept throttling or failing the request; lower "
            "concurrency, or try again later."
        )
    else:
        explanation = "unexpected error"
    return f"{explanation} (AWS said: {code}: {aws_message})"


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
        parts.append(f"{first.code} for {digests}: {explain(first.code, first.aws_message, repository, registry_id, region)}")
    return " ".join(parts)


def failure_results(failures):
    """The ``failures`` return value: one entry a digest, in input order."""
    return [
        {"layer_digest": failure.subject, "error_code": failure.code, "error_message": failure.aws_message}
        for failure in failures
    ]


def fail_on_failures(module, failures, repository, total, registry_id=None):
    """End the module run when some digests failed: every one named, unknown errors through fail_json_aws."""
    if not failures:
        return
    msg = describe_failures(failures, repository, total, registry_id, module.region)
    unexpected = [failure for failure in failures if not failure.known]
    if unexpected:
        module.fail_json_aws(unexpected[0].exception, msg=msg, failures=failure_results(failures))
    module.fail_json(msg=msg, failures=failure_results(failures))
