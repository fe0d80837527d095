# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import threading
import time

import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.exceptions import NoCredentialsError

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError

from ansible_collections.airgap.ecr.plugins.module_utils import ecr
from ansible_collections.airgap.ecr.plugins.module_utils import ecr_errors
from ansible_collections.airgap.ecr.plugins.module_utils.ecr import get_layer_url
from ansible_collections.airgap.ecr.plugins.module_utils.ecr import layer_url_result
from ansible_collections.airgap.ecr.plugins.module_utils.ecr import layer_urls
from ansible_collections.airgap.ecr.plugins.module_utils.ecr import resolve_layer_urls
from ansible_collections.airgap.ecr.plugins.module_utils.ecr_errors import ECRCallError
from ansible_collections.airgap.ecr.plugins.module_utils.ecr_errors import describe_failures
from ansible_collections.airgap.ecr.plugins.module_utils.ecr_errors import failure_results
from ansible_collections.airgap.ecr.plugins.module_utils.ecr_request import validate_ecr_request

REPO = "team/app"
D1 = "sha256:" + "11" * 32
URL = "https://bucket.s3.eu-west-1.amazonaws.com/k?X-Amz-Date=20190814T220617Z&X-Amz-Expires=3600&X-Amz-Signature=s"


def test_one_digest_with_registry_id(stubbed):
    client, stubber = stubbed
    stubber.add_response(
        "get_download_url_for_layer",
        {"downloadUrl": URL, "layerDigest": D1},
        {"repositoryName": REPO, "layerDigest": D1, "registryId": "123456789012"},
    )
    layer = get_layer_url(client, REPO, D1, "123456789012")
    assert layer == {"layer_digest": D1, "download_url": URL, "expires_at": "2019-08-14T23:06:17Z"}


def test_registry_id_is_not_sent_when_unset(stubbed):
    client, stubber = stubbed
    stubber.add_response(
        "get_download_url_for_layer",
        {"downloadUrl": URL, "layerDigest": D1},
        {"repositoryName": REPO, "layerDigest": D1},
    )
    assert get_layer_url(client, REPO, D1)["download_url"] == URL


@pytest.mark.parametrize("code", ["ThrottlingException", "ServerException", "503"])
def test_throttling_and_server_errors_are_retried(stubbed, code):
    client, stubber = stubbed
    status = 400 if code == "ThrottlingException" else 503 if code == "503" else 500
    stubber.add_client_error("get_download_url_for_layer", code, "slow down", status)
    stubber.add_client_error("get_download_url_for_layer", code, "slow down", status)
    stubber.add_response("get_download_url_for_layer", {"downloadUrl": URL, "layerDigest": D1})
    assert get_layer_url(client, REPO, D1)["layer_digest"] == D1


def test_retries_are_bounded(stubbed):
    client, stubber = stubbed
    for _attempt in range(3):  # amazon.aws's retries=3 means three attempts in all
        stubber.add_client_error("get_download_url_for_layer", "ThrottlingException", "Rate exceeded", 400)
    with pytest.raises(ECRCallError) as e:
        get_layer_url(client, REPO, D1)
    assert e.value.code == "ThrottlingException"
    assert not e.value.known


@pytest.mark.parametrize(
    "code, fragments",
    [
        ("RepositoryNotFoundException", ["repository not found", "'team/app'", "eu-west-1"]),
        ("LayersNotFoundException", ["only returns download URLs for layers", "referenced by an image"]),
        ("LayerInaccessibleException", ["cannot access its data"]),
        ("UnableToGetUpstreamLayerException", ["pull-through cache"]),
        ("InvalidParameterException", ["rejected the request's parameters"]),
        ("AccessDeniedException", ["ecr:GetDownloadUrlForLayer", "IAM policy"]),
        ("UnrecognizedClientException", ["does not recognise the access key"]),
        ("InvalidSignatureException", ["secret key does not belong"]),
        ("ExpiredTokenException", ["session token has expired"]),
    ],
)
def test_known_errors_are_explained(stubbed, code, fragments):
    client, stubber = stubbed
    stubber.add_client_error("get_download_url_for_layer", code, f"ECR says {code}", 400)
    with pytest.raises(ECRCallError) as e:
        get_layer_url(client, REPO, D1)
    assert e.value.known and e.value.code == code
    message = describe_failures([e.value], REPO, 1, None, "eu-west-1")
    assert message.startswith(f"Could not get a download URL for layer {D1} in repository 'team/app'")
    assert f"AWS said: {code}: ECR says {code}" in message
    for fragment in fragments:
        assert fragment in message


def test_distinct_credential_errors_have_distinct_messages():
    messages = {
        code: ecr_errors.explain(code, "m", REPO)
        for code in [
            "UnrecognizedClientException",
            "InvalidSignatureException",
            "ExpiredTokenException",
            "NoCredentials",
            "AccessDeniedException",
        ]
    }
    assert len({m.split(":")[0] for m in messages.values()}) == len(messages)


def test_unknown_client_error_is_not_known(stubbed):
    client, stubber = stubbed
    stubber.add_client_error("get_download_url_for_layer", "KmsException", "kms said no", 400)
    with pytest.raises(ECRCallError) as e:
        get_layer_url(client, REPO, D1)
    assert not e.value.known
    assert "unexpected error" in describe_failures([e.value], REPO, 1)


class FakeECR:
    """Answers after a delay, fails chosen digests, and records the most requests in flight."""

    def __init__(self, delay=0.05, fail=None):
        self.delay = delay
        self.fail = fail or {}
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.calls = []

    def get_download_url_for_layer(self, aws_retry=False, **params):
        assert aws_retry is True
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.calls.append(params["layerDigest"])
        try:
            time.sleep(self.delay)
            if params["layerDigest"] in self.fail:
                raise ECRCallError(params["layerDigest"], self.fail[params["layerDigest"]], "no")
            return {"downloadUrl": URL + "&d=" + params["layerDigest"], "layerDigest": params["layerDigest"]}
        finally:
            with self.lock:
                self.in_flight -= 1


def digests(count):
    return [f"sha256:{index:064x}" for index in range(count)]


@pytest.mark.parametrize("concurrency", [1, 4, 8])
def test_concurrency_is_bounded_and_order_kept(concurrency):
    fake = FakeECR(delay=0.03)
    wanted = digests(20)
    layers, failures = resolve_layer_urls(fake, REPO, wanted, concurrency=concurrency)
    assert not failures
    assert [layer["layer_digest"] for layer in layers] == wanted
    assert all(layer["download_url"].endswith(layer["layer_digest"]) for layer in layers)
    assert fake.max_in_flight == concurrency
    assert sorted(fake.calls) == sorted(wanted)


def test_concurrency_makes_it_faster():
    wanted = digests(16)
    start = time.monotonic()
    resolve_layer_urls(FakeECR(delay=0.05), REPO, wanted, concurrency=16)
    parallel = time.monotonic() - start
    assert parallel < 16 * 0.05 / 2


def test_every_failing_digest_is_reported():
    wanted = digests(6)
    fake = FakeECR(
        delay=0,
        fail={
            wanted[1]: "LayersNotFoundException",
            wanted[4]: "LayersNotFoundException",
            wanted[5]: "LayerInaccessibleException",
        },
    )
    raise_client_errors(fake)
    layers, failures = resolve_layer_urls(fake, REPO, wanted, concurrency=3)
    assert [layer["layer_digest"] for layer in layers] == [wanted[0], wanted[2], wanted[3]]
    assert [failure.subject for failure in failures] == [wanted[1], wanted[4], wanted[5]]
    message = describe_failures(failures, REPO, len(wanted), "123456789012", "eu-west-1")
    assert message.startswith(
        "Could not get download URLs for 3 of 6 layers in repository 'team/app' (registry 123456789012"
    )
    assert f"LayersNotFoundException for {wanted[1]}, {wanted[4]}:" in message
    assert f"LayerInaccessibleException for {wanted[5]}:" in message
    assert failure_results(failures)[2] == {
        "layer_digest": wanted[5],
        "error_code": "LayerInaccessibleException",
        "error_message": "no",
    }


def raise_client_errors(fake):
    """Make ``fake`` fail its chosen digests with botocore ClientErrors, as a real client does."""

    def raising(aws_retry=False, **params):
        try:
            return FakeECR.get_download_url_for_layer(fake, aws_retry=aws_retry, **params)
        except ECRCallError as e:
            raise _client_error(e.code) from None

    fake.get_download_url_for_layer = raising


def _client_error(code):
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": "no"}}, "GetDownloadUrlForLayer")


@pytest.mark.parametrize(
    "exception, code, fragment",
    [
        (NoCredentialsError(), "NoCredentials", "no AWS credentials were found"),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:9"), "EndpointConnectionError", "could not connect"),
    ],
)
def test_transport_errors_are_explained(exception, code, fragment):
    class Broken:
        def get_download_url_for_layer(self, aws_retry=False, **params):
            raise exception

    with pytest.raises(ECRCallError) as e:
        get_layer_url(Broken(), REPO, D1)
    assert e.value.code == code and e.value.known
    assert fragment in describe_failures([e.value], REPO, 1)


def test_each_call_has_its_own_backoff_schedule(monkeypatch):
    """Concurrent requests must not compound each other's delays (one shared iterator would)."""
    sleeps = {}
    lock = threading.Lock()

    def record(seconds):
        with lock:
            sleeps.setdefault(threading.get_ident(), []).append(seconds)

    monkeypatch.setattr("ansible_collections.amazon.aws.plugins.module_utils.cloud.time.sleep", record)
    barrier = threading.Barrier(8)

    def flaky():
        failures = {"left": 3}

        def call():
            barrier.wait() if failures["left"] == 3 else None
            if failures["left"]:
                failures["left"] -= 1
                raise _client_error("ThrottlingException")
            return "ok"

        return call

    results = []
    threads = [threading.Thread(target=lambda: results.append(ecr.per_call_retry(flaky())())) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["ok"] * 8
    assert len(sleeps) == 8
    for schedule in sleeps.values():
        assert len(schedule) == 3
        assert all(0 <= seconds <= bound for seconds, bound in zip(schedule, [1, 2, 4], strict=True))


def test_the_digest_ecr_echoes_must_be_the_one_asked_for(stubbed):
    client, stubber = stubbed
    other = "sha256:" + "22" * 32
    stubber.add_response("get_download_url_for_layer", {"downloadUrl": URL, "layerDigest": other})
    with pytest.raises(ECRCallError) as e:
        get_layer_url(client, REPO, D1)
    assert e.value.code == "LayerDigestMismatch" and e.value.known
    message = describe_failures([e.value], REPO, 1)
    assert f"the answer for layer {D1} names the layer '{other}'" in message
    assert "check endpoint_url" in message
    assert "bucket" not in message and "X-Amz" not in message


def test_an_answer_without_the_digest_is_refused(stubbed):
    client, stubber = stubbed
    stubber.add_response("get_download_url_for_layer", {"downloadUrl": URL})
    with pytest.raises(ECRCallError, match="names the layer None"):
        get_layer_url(client, REPO, D1)


@pytest.mark.parametrize(
    "url, allow_http",
    [
        ("http://bucket.s3.eu-west-1.amazonaws.com/k?X-Amz-Signature=s", False),
        ("file:///etc/shadow", True),
        ("ftp://host/k", True),
        ("https:///no-host", False),
        ("https://[::1/k?X-Amz-Signature=s", False),
    ],
)
def test_a_download_url_that_is_not_https_is_refused_without_showing_it(stubbed, url, allow_http):
    client, stubber = stubbed
    stubber.add_response("get_download_url_for_layer", {"downloadUrl": url, "layerDigest": D1})
    with pytest.raises(ECRCallError) as e:
        get_layer_url(client, REPO, D1, allow_http=allow_http)
    assert e.value.code == "InsecureDownloadUrl"
    message = describe_failures([e.value], REPO, 1)
    assert "is not an https URL" in message and "endpoint_url" in message
    assert url not in message and "X-Amz" not in message and "/k" not in message


def test_an_answer_without_a_url_is_refused(stubbed):
    client, stubber = stubbed
    stubber.add_response("get_download_url_for_layer", {"layerDigest": D1})
    with pytest.raises(ECRCallError, match="has no download URL"):
        get_layer_url(client, REPO, D1)


def test_http_is_accepted_from_an_explicit_endpoint_only(stubbed):
    client, stubber = stubbed
    http = "http://127.0.0.1:9/bucket/k?X-Amz-Date=20190814T220617Z&X-Amz-Expires=60"
    stubber.add_response("get_download_url_for_layer", {"downloadUrl": http, "layerDigest": D1})
    assert get_layer_url(client, REPO, D1, allow_http=True)["download_url"] == http


def test_layer_urls_raises_one_aws_error_naming_every_failure():
    wanted = digests(3)
    fake = FakeECR(delay=0, fail={wanted[0]: "LayersNotFoundException"})
    raise_client_errors(fake)
    request = validate_ecr_request({"repository": REPO, "digests": wanted, "concurrency": 2})
    with pytest.raises(AnsibleAWSError) as e:
        layer_urls(fake, request, region="eu-west-1")
    assert e.value.message.startswith("Could not get download URLs for 1 of 3 layers in repository 'team/app'")
    assert e.value.exception is None  # a known error: no botocore details in the failure
    assert e.value.kwargs == {
        "failures": [{"layer_digest": wanted[0], "error_code": "LayersNotFoundException", "error_message": "no"}]
    }


def test_layer_urls_wraps_the_first_unexpected_botocore_error():
    wanted = digests(2)
    fake = FakeECR(delay=0)

    def raising(aws_retry=False, **params):
        raise _client_error("KmsException")

    fake.get_download_url_for_layer = raising
    request = validate_ecr_request({"repository": REPO, "digests": wanted})
    with pytest.raises(AnsibleAWSError) as e:
        layer_urls(fake, request)
    assert e.value.exception.response["Error"]["Code"] == "KmsException"


def test_layer_url_result():
    layer = {"layer_digest": D1, "download_url": URL, "expires_at": None}
    assert layer_url_result([layer], single=False) == {"changed": False, "layers": [layer]}
    assert layer_url_result([layer], single=True) == dict(layer, changed=False, layers=[layer])


CANONICAL_REQUEST = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key "
    "and signing method. Consult the service documentation for details.\n\n"
    "The Canonical String for this request should "
    "have been\n'POST\n/\n\ncontent-type:application/x-amz-json-1.1\nhost:api.ecr.eu-west-1.amazonaws.com\n"
    "x-amz-date:20240101T000000Z\nx-amz-security-token:IQoJb3JpZ2luX2VjEJr//////////wEaCWV1LXdlc3QtMSJHMEUCIQDx"
    "ExampleSessionTokenValue1234567890abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP==\nx-amz-target:AmazonEC2Container"
    "Registry_V20150921.GetDownloadUrlForLayer\n\ncontent-type;host;x-amz-date;x-amz-security-token;x-amz-target\n"
    "5f4dcc3b5aa765d61d8327deb882cf99'\n\nThe String-to-Sign should have been 'AWS4-HMAC-SHA256 ...'; Authorization: "
    "AWS4-HMAC-SHA256 Credential=ASIAXAMPLEKEY0000001/20240101/eu-west-1/ecr/aws4_request, SignedHeaders=host, "
    "Signature= 0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
)
CANONICAL_SECRETS = ["IQoJb3JpZ2luX2Vj", "ExampleSessionTokenValue", "ASIAXAMPLEKEY0000001", "0f1e2d3c4b5a6978"]


def test_aws_text_in_an_error_is_redacted(stubbed):
    client, stubber = stubbed
    stubber.add_client_error("get_download_url_for_layer", "InvalidSignatureException", CANONICAL_REQUEST, 403)
    with pytest.raises(ECRCallError) as e:
        get_layer_url(client, REPO, D1)
    texts = [describe_failures([e.value], REPO, 1), e.value.message, str(failure_results([e.value]))]
    for text in texts:
        assert "wrong secret key" in texts[0] and "The Canonical String for this request" in text
        for secret in CANONICAL_SECRETS:
            assert secret not in text
