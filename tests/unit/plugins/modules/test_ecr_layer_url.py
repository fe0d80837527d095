# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""ecr_layer_url through its real entry point, against the local ECR emulator over HTTP."""

import pytest

from ansible_collections.airgap.ecr.plugins.modules.ecr_layer_url import main
from ansible_collections.airgap.ecr.tests.support.credentials import DENIED_OPTIONS
from ansible_collections.airgap.ecr.tests.support.credentials import EXPIRED_OPTIONS
from ansible_collections.airgap.ecr.tests.support.digests import digest_of
from ansible_collections.airgap.ecr.tests.unit.plugins.modules.conftest import demo_image
from ansible_collections.airgap.ecr.tests.unit.plugins.modules.conftest import fetch

REPOSITORY = "airgap/demo"


@pytest.fixture(name="demo")
def demo_fixture(fresh_emulator):
    image = demo_image(fresh_emulator)
    return {"config": image["config"]["digest"], "layers": [layer["digest"] for layer in image["layers"]]}


def ecr_calls(emulator):
    return [r for r in emulator.requests() if r["operation"] == "GetDownloadUrlForLayer"]


def test_one_digest(run_module, fresh_emulator, demo):
    failed, result = run_module(main, repository=REPOSITORY, digest=demo["layers"][0])
    assert not failed
    assert result["changed"] is False
    assert result["layer_digest"] == demo["layers"][0]
    assert result["expires_at"].endswith("Z")
    assert result["layers"] == [{k: result[k] for k in ("layer_digest", "download_url", "expires_at")}]
    assert digest_of(fetch(result["download_url"])) == demo["layers"][0]
    calls = ecr_calls(fresh_emulator)
    assert len(calls) == 1 and "registryId" not in calls[0]["params"]
    assert "airgap.ecr/0.1.0" in calls[0]["user_agent"]


def test_check_mode_returns_the_real_result(run_module, demo):
    failed, result = run_module(main, check_mode=True, repository=REPOSITORY, digest=demo["config"])
    assert not failed and result["changed"] is False
    assert digest_of(fetch(result["download_url"])) == demo["config"]


def test_many_digests_keep_order_and_resolve_duplicates_once(run_module, fresh_emulator, demo):
    wanted = list(reversed(demo["layers"])) + [demo["config"], demo["layers"][0]]
    failed, result = run_module(main, repository=REPOSITORY, digests=wanted, concurrency=3, registry_id="123456789012")
    assert not failed
    assert [layer["layer_digest"] for layer in result["layers"]] == wanted[:-1]
    assert "download_url" not in result
    calls = ecr_calls(fresh_emulator)
    assert sorted(c["params"]["layerDigest"] for c in calls) == sorted(wanted[:-1])
    assert {c["params"]["registryId"] for c in calls} == {"123456789012"}


@pytest.mark.parametrize(
    "args, expected",
    [
        (
            {"repository": "Demo", "digest": "sha256:" + "a" * 64},
            "repository 'Demo' is not a valid ECR repository name",
        ),
        ({"digest": "sha256:" + "a" * 63}, "exactly 64 lowercase hexadecimal characters (it has 63)"),
        ({"digests": ["sha256:" + "a" * 64, "x"]}, "digests[1] 'x' is not a digest"),
        ({"digest": "sha256:" + "a" * 64, "registry_id": "1234"}, "registry_id '1234' is not a registry id"),
        ({"digests": ["sha256:" + "a" * 64], "concurrency": 100}, "concurrency 100 is out of range"),
    ],
)
def test_invalid_input_fails_before_any_request(run_module, fresh_emulator, args, expected):
    failed, result = run_module(main, **dict({"repository": REPOSITORY}, **args))
    assert failed and result["failed"] is True
    assert expected in result["msg"]
    assert fresh_emulator.requests() == []


def test_every_failing_digest_is_named(run_module, demo):
    absent = ["sha256:" + "e" * 64, "sha256:" + "f" * 64]
    failed, result = run_module(
        main, repository=REPOSITORY, digests=[demo["layers"][0], absent[0], demo["layers"][1], absent[1]]
    )
    assert failed
    assert "2 of 4 layers" in result["msg"]
    assert f"LayersNotFoundException for {absent[0]}, {absent[1]}" in result["msg"]
    assert [f["layer_digest"] for f in result["failures"]] == absent


@pytest.mark.parametrize(
    "credentials, code",
    [
        ({"secret_key": "wrong"}, "InvalidSignatureException"),
        ({"access_key": "AKIAUNKNOWN000000000"}, "UnrecognizedClientException"),
        (DENIED_OPTIONS, "AccessDeniedException"),
        (EXPIRED_OPTIONS, "ExpiredTokenException"),
    ],
)
def test_credential_errors_are_distinct_and_leak_nothing(run_module, demo, credentials, code):
    failed, result = run_module(main, repository=REPOSITORY, digest=demo["layers"][0], **credentials)
    assert failed and code in result["msg"]
    text = str(result)
    for secret in ("secret_key", "session_token"):
        if secret in credentials and len(credentials[secret]) > 5:
            assert credentials[secret] not in text


def test_throttling_is_retried(run_module, fresh_emulator, demo):
    fresh_emulator.faults(operation="GetDownloadUrlForLayer", count=2, code="ThrottlingException", status=400)
    failed, result = run_module(main, repository=REPOSITORY, digest=demo["layers"][1])
    assert not failed and result["layer_digest"] == demo["layers"][1]
    assert [c["status"] for c in ecr_calls(fresh_emulator)] == [400, 400, 200]


TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQUnitModuleToken0123456789abcdefghijKLMNOPqrstuv=="
SIGNATURE = "6d1e2a7c9b4f3e5d8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f"
AWS_TEXT = (
    f"canonical request:\nx-amz-security-token:{TOKEN}\n"
    f"Authorization: Credential=ASIAUNITMODULE000001/x, Signature= {SIGNATURE}"
)


@pytest.mark.parametrize("code", ["InvalidSignatureException", "KmsException"])
def test_aws_text_is_redacted_in_the_whole_failure(run_module, fresh_emulator, demo, code):
    """Known errors (fail_json) and unexpected ones (fail_json_aws: response, traceback) alike."""
    fresh_emulator.faults(operation="GetDownloadUrlForLayer", code=code, status=403, message=AWS_TEXT)
    failed, result = run_module(main, repository=REPOSITORY, digest=demo["layers"][0])
    assert failed and code in result["msg"]
    assert "x-amz-security-token:<hidden>" in result["msg"]
    assert result["failures"][0]["error_message"].startswith("canonical request:")
    if code == "KmsException":
        # amazon.aws's details of the botocore exception: the AWS response, redacted too
        assert result["error"]["code"] == code and "x-amz-security-token:<hidden>" in result["error"]["message"]
    text = str(result)
    for secret in (TOKEN, TOKEN[:20], SIGNATURE, SIGNATURE[:20], "ASIAUNITMODULE000001"):
        assert secret not in text
