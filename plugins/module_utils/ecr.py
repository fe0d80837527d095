# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""ECR calls: layer download URLs, with retries, bounded concurrency and checked answers.

Everything here takes a boto3 ECR client (wrapped by amazon.aws's retrying wrapper) and
plain values, so that it can be tested without Ansible. Failures are ``ECRCallError``s
(ecr_errors.py); a request that cannot be served whole raises an ``AnsibleAWSError``.
"""

from concurrent.futures import ThreadPoolExecutor
from functools import wraps
from urllib.parse import urlsplit

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

from ansible_collections.airgap.ecr.plugins.module_utils.ecr_errors import ATTEMPTS
from ansible_collections.airgap.ecr.plugins.module_utils.ecr_errors import KNOWN_ERRORS
from ansible_collections.airgap.ecr.plugins.module_utils.ecr_errors import RETRY_ERROR_CODES
from ansible_collections.airgap.ecr.plugins.module_utils.ecr_errors import ECRCallError
from ansible_collections.airgap.ecr.plugins.module_utils.ecr_errors import failures_error
from ansible_collections.airgap.ecr.plugins.module_utils.ecr_request import DEFAULT_CONCURRENCY
from ansible_collections.airgap.ecr.plugins.module_utils.url_expiry import url_expires_at

RETRY_DELAY = 1
RETRY_MAX_DELAY = 8


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
    """``client.<operation>(**params)`` with retries; failures become ECRCallError about ``subject``."""
    try:
        return getattr(client, operation)(aws_retry=True, **params)
    except is_boto3_error_code(list(KNOWN_ERRORS)) as e:
        code, message = _error_of(e)
        raise ECRCallError(subject, code, message, exception=e) from e
    except ClientError as e:  # pylint: disable=duplicate-except
        code, message = _error_of(e)
        raise ECRCallError(subject, code, message, exception=e, known=False) from e
    except NoCredentialsError as e:
        raise ECRCallError(subject, "NoCredentials", str(e), exception=e) from e
    except (EndpointConnectionError, ConnectTimeoutError) as e:
        raise ECRCallError(subject, "EndpointConnectionError", str(e), exception=e) from e
    except ReadTimeoutError as e:
        raise ECRCallError(subject, "ReadTimeout", str(e), exception=e) from e
    except BotoCoreError as e:
        raise ECRCallError(subject, type(e).__name__, str(e), exception=e, known=False) from e


def _shown(value):
    """A value from an untrusted answer, short enough for a message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def checked_download_url(response, digest, allow_http=False):
    """The ``downloadUrl`` of ECR's answer for ``digest``, once the answer is found to be for that digest.

    The echoed ``layerDigest`` must be the digest asked for, and the URL https (http only
    when ``allow_http``: an endpoint the user named, such as a test emulator). Otherwise
    ECRCallError; its message never holds the URL.
    """
    echoed = response.get("layerDigest")
    if echoed != digest:
        raise ECRCallError(
            digest, "LayerDigestMismatch", f"the answer for layer {digest} names the layer {_shown(echoed)}."
        )
    url = response.get("downloadUrl")
    if not isinstance(url, str) or not url:
        raise ECRCallError(digest, "MissingDownloadUrl", f"the answer for layer {digest} has no download URL.")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    scheme = parts.scheme.lower() if parts else ""
    if not host or scheme not in ("https", "http") or (scheme == "http" and not allow_http):
        raise ECRCallError(
            digest,
            "InsecureDownloadUrl",
            f"the download URL for layer {digest} is not an https URL (scheme {_shown(scheme)}); http is accepted only "
            "from an endpoint named with endpoint_url, such as a local test endpoint.",
        )
    return url


def get_layer_url(client, repository, digest, registry_id=None, allow_http=False):
    """Resolve one digest: ``{layer_digest, download_url, expires_at}``, or raise ECRCallError."""
    params = {"repositoryName": repository, "layerDigest": digest}
    if registry_id is not None:
        params["registryId"] = registry_id
    response = call(client, "get_download_url_for_layer", digest, **params)
    url = checked_download_url(response, digest, allow_http)
    return {"layer_digest": digest, "download_url": url, "expires_at": url_expires_at(url)}


def resolve_layer_urls(
    client, repository, digests, registry_id=None, concurrency=DEFAULT_CONCURRENCY, allow_http=False
):
    """Resolve many digests with at most ``concurrency`` requests in flight.

    ``digests`` must already be validated and free of duplicates. Returns ``(layers,
    failures)``: the resolved layers in the order of ``digests`` and an ECRCallError for
    every digest that failed (all of them are attempted).
    """

    def attempt(digest):
        try:
            return get_layer_url(client, repository, digest, registry_id, allow_http), None
        except ECRCallError as e:
            return None, e

    if len(digests) == 1:
        outcomes = [attempt(digests[0])]
    else:
        with ThreadPoolExecutor(max_workers=min(concurrency, len(digests))) as pool:
            outcomes = list(pool.map(attempt, digests))
    layers = [layer for layer, failure in outcomes if failure is None]
    failures = [failure for layer, failure in outcomes if failure is not None]
    return layers, failures


def layer_urls(client, request, digests=None, region=None, allow_http=False):
    """Every layer of ``request`` (an ECRRequest), or ``digests`` when given, resolved; else AnsibleAWSError.

    The error names every digest that failed and carries ``failures`` for the result.
    """
    digests = request.digests if digests is None else digests
    layers, failures = resolve_layer_urls(
        client, request.repository, digests, request.registry_id, request.concurrency, allow_http
    )
    if failures:
        raise failures_error(failures, request.repository, len(digests), request.registry_id, region)
    return layers


def layer_url_result(layers, single):
    """ecr_layer_url's result: ``layers``, and the keys of the one layer when one ``digest`` was asked for."""
    result = {"changed": False, "layers": layers}
    if single:
        result.update(layers[0])
    return result
