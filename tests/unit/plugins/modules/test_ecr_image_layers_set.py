# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""ecr_image_layers with images, through its real entry point, against the local ECR emulator over HTTP."""

import hashlib

from ansible_collections.airgap.ecr.plugins.module_utils.image_names import dns_suffix
from ansible_collections.airgap.ecr.plugins.modules.ecr_image_layers import main
from ansible_collections.airgap.ecr.tests.unit.plugins.modules.conftest import demo_image
from ansible_collections.airgap.ecr.tests.unit.plugins.modules.conftest import fetch

REPOSITORY = "airgap/demo"


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_a_set_in_one_run_every_blob_once(run_module, fresh_emulator):
    single = demo_image(fresh_emulator)
    images = [
        {"repository": REPOSITORY, "tag": "1.0"},
        {"repository": REPOSITORY, "tag": "multi"},
        {"repository": REPOSITORY, "digest": single["image_digest"], "name": "registry.example/demo"},
    ]
    failed, result = run_module(main, images=images, platform="linux/arm64")
    assert not failed and result["changed"] is False and result["image_count"] == 3
    first, multi, by_digest = result["images"]
    assert first["image_digest"] == by_digest["image_digest"] == single["image_digest"]
    assert multi["platform"] == "linux/arm64/v8" and multi["index_digest"] is not None
    assert sha256(multi["manifest"].encode()) == multi["image_digest"]
    host = f"{first['registry_id']}.dkr.ecr.us-east-1.{dns_suffix('us-east-1')}"
    assert first["name"] == f"{host}/{REPOSITORY}:1.0"
    assert by_digest["name"] == "registry.example/demo"
    assert by_digest["digest_name"] == "registry.example/demo@" + single["image_digest"]
    used = {blob["digest"] for image in (first, multi) for blob in [image["config"]] + image["layers"]}
    assert sorted(blob["digest"] for blob in result["blobs"]) == sorted(used) and result["blob_count"] == len(used)
    for blob in result["blobs"]:
        data = fetch(blob["download_url"])
        assert sha256(data) == blob["digest"] and len(data) == blob["size"]
    log = fresh_emulator.requests()
    assert [r["operation"] for r in log if r["operation"] == "BatchGetImage"] == ["BatchGetImage"] * 2
    assert len(log[0]["params"]["imageIds"]) == 3
    asked = [r["params"]["layerDigest"] for r in log if r["operation"] == "GetDownloadUrlForLayer"]
    assert sorted(asked) == sorted(used)


def test_invalid_entries_fail_before_any_request(run_module, fresh_emulator):
    failed, result = run_module(main, images=[{"repository": REPOSITORY, "tag": "1.0"}, {"repository": REPOSITORY}])
    assert failed and "images[1] must have exactly one of tag and digest" in result["msg"]
    failed, result = run_module(main, repository=REPOSITORY)
    assert failed and "one of the following is required: image_tag, image_digest" in result["msg"]
    assert fresh_emulator.requests() == []
