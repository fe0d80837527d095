# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import threading
import time

import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.exceptions import NoCredentialsError

from ansible_collections.airgap.ecr.plugins.module_utils import ecr
from ansible_collections.airgap.ecr.plugins.module_utils.ecr import ECRError
from ansible_collections.airgap.ecr.plugins.module_utils.ecr import describe_failures
from ansible_collections.airgap.ecr.plugins.module_utils.ecr import failure_results
from ansible_collections.airgap.ecr.plugins.module_utils.ecr import get_layer_url
from ansible_collections.airgap.ecr.plugins.module_utils.ecr import resolve_layer_urls

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
    with pytest.raises(ECRError) as e:
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
    with pytest.raises(ECRError) as e:
        get_layer_url(client, REPO, D1)
    assert e.value.known and e.value.code == code
    message = describe_failures([e.value], REPO, 1, None, "eu-west-1")
    assert message.startswith(f"Could not get a download URL for layer {D1} in repository 'team/app'")
    assert f"AWS said: {code}: ECR says {code}" in message
    for fragment in fragments:
        assert fragment in message


def test_distinct_credential_errors_have_distinct_messages():
    messages = {
        code: ecr.explain(code, "m", REPO)
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
    with pytest.raises(ECRError) as e:
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
                raise ECRError(params["layerDigest"], self.fail[params["layerDigest"]], "no")
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

    def raising(aws_retry=False, **params):
        try:
            return FakeECR.get_download_url_for_layer(fake, aws_retry=aws_retry, **params)
        except ECRError as e:
            raise _client_error(e.code) from None

    fake.get_download_url_for_layer = raising
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

    with pytest.raises(ECRError) as e:
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
