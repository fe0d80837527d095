# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""ecr_image_layers through its real entry point, against the local ECR emulator over HTTP."""

import pytest

from ansible_collections.airgap.ecr.plugins.modules.ecr_image_layers import main
from ansible_collections.airgap.ecr.tests.support.digests import digest_of as sha256
from ansible_collections.airgap.ecr.tests.unit.plugins.modules.conftest import demo_image
from ansible_collections.airgap.ecr.tests.unit.plugins.modules.conftest import fetch

REPOSITORY = "airgap/demo"


def test_by_tag_every_blob_verified(run_module, fresh_emulator):
    expected = demo_image(fresh_emulator)
    failed, result = run_module(main, repository=REPOSITORY, image_tag="1.0")
    assert not failed and result["changed"] is False
    assert result["image_digest"] == expected["image_digest"] == sha256(result["manifest"].encode())
    assert result["index_digest"] is None and result["platform"] is None
    assert result["config"]["digest"] == expected["config"]["digest"]
    assert [layer["digest"] for layer in result["layers"]] == [layer["digest"] for layer in expected["layers"]]
    for blob in [result["config"]] + result["layers"]:
        data = fetch(blob["download_url"])
        assert sha256(data) == blob["digest"] and len(data) == blob["size"]
    assert result["total_size"] == sum(blob["size"] for blob in [result["config"]] + result["layers"])
    assert result["expires_at"] == min(blob["expires_at"] for blob in [result["config"]] + result["layers"])


def test_by_digest_without_urls_in_check_mode(run_module, fresh_emulator):
    expected = demo_image(fresh_emulator)
    failed, result = run_module(
        main, check_mode=True, repository=REPOSITORY, image_digest=expected["image_digest"], download_urls=False
    )
    assert not failed
    assert result["image_digest"] == expected["image_digest"]
    assert result["config"]["download_url"] is None and result["expires_at"] is None
    assert [r["operation"] for r in fresh_emulator.requests()] == ["BatchGetImage"]


def test_missing_tag(run_module):
    failed, result = run_module(main, repository=REPOSITORY, image_tag="absent")
    assert failed
    assert "ImageNotFound" in result["msg"] and "airgap/demo:absent" in result["msg"]


@pytest.mark.parametrize(
    "args, expected",
    [
        ({"image_tag": "bad tag"}, "image_tag 'bad tag' is not a valid tag"),
        ({"image_digest": "sha256:12"}, "image_digest 'sha256:12' is not a valid sha256 digest"),
        ({"image_tag": "1.0", "platform": "linux"}, "platform 'linux' is not of the form os/architecture[/variant]"),
        ({"image_tag": "1.0", "image_digest": "sha256:" + "a" * 64}, "mutually exclusive"),
    ],
)
def test_invalid_input_fails_before_any_request(run_module, fresh_emulator, args, expected):
    failed, result = run_module(main, repository=REPOSITORY, **args)
    assert failed and expected in result["msg"]
    assert fresh_emulator.requests() == []


def test_the_image_module_fails_through_one_helper_with_error_code(run_module, fresh_emulator):
    fresh_emulator.faults(
        operation="BatchGetImage", code="KmsException", status=400, message="X-Amz-Signature=abcdef0123456789 no"
    )
    failed, result = run_module(main, repository=REPOSITORY, image_tag="1.0")
    assert failed and result["error_code"] == "KmsException"
    assert result["msg"].startswith(
        "Could not get image airgap/demo:1.0: unexpected error (AWS said: KmsException: X-Amz-Signature=<hidden> no)"
    )
    assert "abcdef0123456789" not in str(result)
