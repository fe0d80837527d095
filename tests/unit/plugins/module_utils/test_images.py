# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import hashlib
import json

import pytest

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError

from ansible_collections.airgap.ecr.plugins.module_utils import manifest as m
from ansible_collections.airgap.ecr.plugins.module_utils.ecr_request import validate_ecr_request
from ansible_collections.airgap.ecr.plugins.module_utils.images import image_layers_result
from ansible_collections.airgap.ecr.plugins.module_utils.images import resolve_image
from ansible_collections.airgap.ecr.plugins.module_utils.images import resolve_image_layers
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import parse_platform

REPO = "team/app"


def sha(text):
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def blob(media_type, seed, size):
    return {"mediaType": media_type, "digest": sha(seed), "size": size}


def image_manifest(seed, media_type=m.OCI_MANIFEST):
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": blob("application/vnd.oci.image.config.v1+json", seed + "-config", 50),
            "layers": [blob("application/vnd.oci.image.layer.v1.tar+gzip", seed + "-layer", 500)],
        },
        indent=3,
    )


AMD = image_manifest("amd")
ARM = image_manifest("arm")
INDEX = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": m.OCI_INDEX,
        "manifests": [
            dict(
                blob(m.OCI_MANIFEST, "x", len(AMD)), digest=sha(AMD), platform={"os": "linux", "architecture": "amd64"}
            ),
            dict(
                blob(m.OCI_MANIFEST, "x", len(ARM)),
                digest=sha(ARM),
                platform={"os": "linux", "architecture": "arm64", "variant": "v8"},
            ),
        ],
    }
)


def answer(stubber, image_id, text, media_type, digest=None):
    found = {
        "repositoryName": REPO,
        "imageId": dict(image_id, imageDigest=digest or sha(text)),
        "imageManifest": text,
        "imageManifestMediaType": media_type,
    }
    stubber.add_response(
        "batch_get_image",
        {"images": [found], "failures": []},
        {"repositoryName": REPO, "imageIds": [image_id], "acceptedMediaTypes": m.ACCEPTED_MEDIA_TYPES},
    )


def test_single_manifest_by_tag(stubbed):
    client, stubber = stubbed
    answer(stubber, {"imageTag": "1.0"}, AMD, m.OCI_MANIFEST)
    image = resolve_image(client, REPO, parse_platform("linux/amd64"), tag="1.0")
    assert image["image_digest"] == sha(AMD) and image["index_digest"] is None and image["platform"] is None
    assert image["manifest"] == AMD
    assert image["config"]["digest"] == sha("amd-config") and image["layers"][0]["size"] == 500


def test_index_selects_and_verifies_the_platform_manifest(stubbed):
    client, stubber = stubbed
    answer(stubber, {"imageTag": "multi"}, INDEX, m.OCI_INDEX)
    answer(stubber, {"imageDigest": sha(ARM)}, ARM, m.OCI_MANIFEST)
    image = resolve_image(client, REPO, parse_platform("linux/arm64"), tag="multi")
    assert image["index_digest"] == sha(INDEX)
    assert image["image_digest"] == sha(ARM) and image["platform"] == "linux/arm64/v8"
    assert image["layers"][0]["digest"] == sha("arm-layer")


def test_no_matching_platform_lists_the_available_ones(stubbed):
    client, stubber = stubbed
    answer(stubber, {"imageDigest": sha(INDEX)}, INDEX, m.OCI_INDEX)
    with pytest.raises(AnsibleAWSError) as e:
        resolve_image(client, REPO, parse_platform("linux/s390x"), digest=sha(INDEX))
    assert "no manifest for platform linux/s390x; it offers linux/amd64, linux/arm64/v8" in str(e.value)


def test_manifest_that_does_not_match_the_digest_asked_for_fails(stubbed):
    client, stubber = stubbed
    wanted = sha(AMD)
    answer(stubber, {"imageDigest": wanted}, AMD + "\n", m.OCI_MANIFEST, digest=wanted)
    with pytest.raises(AnsibleAWSError, match="altered or corrupted") as e:
        resolve_image(client, REPO, parse_platform("linux/amd64"), digest=wanted)
    assert e.value.kwargs == {"error_code": "DigestMismatch"}


def test_index_entry_whose_manifest_does_not_match_fails(stubbed):
    client, stubber = stubbed
    answer(stubber, {"imageTag": "multi"}, INDEX, m.OCI_INDEX)
    answer(stubber, {"imageDigest": sha(AMD)}, ARM, m.OCI_MANIFEST, digest=sha(AMD))
    with pytest.raises(AnsibleAWSError, match="that the index of team/app:multi names for linux/amd64"):
        resolve_image(client, REPO, parse_platform("linux/amd64"), tag="multi")


def test_image_not_found_is_explained(stubbed):
    client, stubber = stubbed
    stubber.add_response(
        "batch_get_image",
        {
            "images": [],
            "failures": [
                {
                    "imageId": {"imageTag": "nope"},
                    "failureCode": "ImageNotFound",
                    "failureReason": "Requested image not found",
                }
            ],
        },
    )
    with pytest.raises(AnsibleAWSError) as e:
        resolve_image(client, REPO, parse_platform("linux/amd64"), tag="nope")
    assert str(e.value).startswith("Could not get image team/app:nope: ImageNotFound: ECR has no image team/app:nope")


def test_missing_repository_is_explained(stubbed):
    client, stubber = stubbed
    stubber.add_client_error("batch_get_image", "RepositoryNotFoundException", "no such repo", 400)
    with pytest.raises(AnsibleAWSError, match="repository not found") as e:
        resolve_image(client, REPO, parse_platform("linux/amd64"), tag="1")
    assert e.value.exception is None


def test_access_denied_names_batch_get_image(stubbed):
    client, stubber = stubbed
    stubber.add_client_error("batch_get_image", "AccessDeniedException", "denied", 400)
    with pytest.raises(AnsibleAWSError, match="Grant ecr:BatchGetImage"):
        resolve_image(client, REPO, parse_platform("linux/amd64"), tag="1")


def test_schema1_is_rejected(stubbed):
    client, stubber = stubbed
    text = json.dumps({"schemaVersion": 1, "name": REPO, "tag": "old", "fsLayers": []})
    answer(stubber, {"imageTag": "old"}, text, m.DOCKER_SCHEMA1_SIGNED)
    with pytest.raises(AnsibleAWSError, match="schema 1"):
        resolve_image(client, REPO, parse_platform("linux/amd64"), tag="old")


def test_an_unexpected_aws_error_is_wrapped_for_fail_json_aws(stubbed):
    client, stubber = stubbed
    stubber.add_client_error("batch_get_image", "KmsException", "kms said no", 400)
    with pytest.raises(AnsibleAWSError) as e:
        resolve_image(client, REPO, parse_platform("linux/amd64"), tag="1")
    assert e.value.message.startswith(
        "Could not get image team/app:1: unexpected error (AWS said: KmsException: kms said no)"
    )
    assert e.value.exception.response["Error"]["Code"] == "KmsException"
    assert e.value.kwargs == {"error_code": "KmsException"}


def test_a_failure_reason_is_redacted(stubbed):
    client, stubber = stubbed
    reason = "denied for X-Amz-Security-Token=FwoGZXIvYXdzEXAMPLE&X-Amz-Signature=abcdef"
    stubber.add_response(
        "batch_get_image", {"images": [], "failures": [{"failureCode": "KmsError", "failureReason": reason}]}
    )
    with pytest.raises(AnsibleAWSError) as e:
        resolve_image(client, REPO, parse_platform("linux/amd64"), tag="1")
    assert (
        "KmsError" in e.value.message
        and "FwoGZXIvYXdzEXAMPLE" not in e.value.message
        and "abcdef" not in e.value.message
    )


def resolved_image(layers):
    return {
        "image_digest": sha(AMD),
        "index_digest": None,
        "media_type": m.OCI_MANIFEST,
        "manifest": AMD,
        "platform": None,
        "config": {"digest": sha("c"), "media_type": "application/vnd.oci.image.config.v1+json", "size": 10},
        "layers": layers,
    }


def test_image_layers_result_gives_every_blob_its_url_and_the_earliest_expiry():
    layers = [
        {"digest": sha("l1"), "media_type": "x", "size": 100, "annotations": {"a": "b"}},
        {"digest": sha("f"), "media_type": "foreign", "size": 5, "foreign": True, "urls": ["https://elsewhere/f"]},
        {"digest": sha("l1"), "media_type": "x", "size": 100},
    ]
    resolved = [
        {"layer_digest": sha("c"), "download_url": "https://u/c", "expires_at": "2030-01-01T01:00:00Z"},
        {"layer_digest": sha("l1"), "download_url": "https://u/l1", "expires_at": "2030-01-01T00:30:00Z"},
    ]
    result = image_layers_result(resolved_image(layers), resolved)
    assert result["changed"] is False and result["image_digest"] == sha(AMD) and result["manifest"] == AMD
    assert result["config"] == {
        "digest": sha("c"),
        "media_type": "application/vnd.oci.image.config.v1+json",
        "size": 10,
        "download_url": "https://u/c",
        "expires_at": "2030-01-01T01:00:00Z",
    }
    assert [layer["download_url"] for layer in result["layers"]] == ["https://u/l1", None, "https://u/l1"]
    assert "annotations" not in result["layers"][0] and result["layers"][1]["urls"] == ["https://elsewhere/f"]
    assert result["total_size"] == 215
    assert result["expires_at"] == "2030-01-01T00:30:00Z"


def test_image_layers_result_without_urls():
    result = image_layers_result(resolved_image([{"digest": sha("l1"), "media_type": "x", "size": 1}]))
    assert result["config"]["download_url"] is None and result["layers"][0]["expires_at"] is None
    assert result["expires_at"] is None


def test_resolve_image_layers_asks_each_distinct_registry_blob_once(stubbed):
    client, stubber = stubbed
    answer(stubber, {"imageTag": "1.0"}, AMD, m.OCI_MANIFEST)
    for digest in (sha("amd-config"), sha("amd-layer")):
        url = "https://bucket.s3.eu-west-1.amazonaws.com/" + digest
        stubber.add_response(
            "get_download_url_for_layer",
            {"downloadUrl": url, "layerDigest": digest},
            {"repositoryName": REPO, "layerDigest": digest},
        )
    request = validate_ecr_request(
        {"repository": REPO, "image_tag": "1.0", "platform": "linux/amd64", "concurrency": 1}
    )
    result = resolve_image_layers(client, request, download_urls=True)
    assert result["config"]["download_url"].endswith(sha("amd-config"))
    assert result["layers"][0]["download_url"].endswith(sha("amd-layer"))


def test_resolve_image_layers_refuses_a_url_for_another_blob(stubbed):
    client, stubber = stubbed
    answer(stubber, {"imageTag": "1.0"}, AMD, m.OCI_MANIFEST)
    for _digest in (sha("amd-config"), sha("amd-layer")):
        stubber.add_response("get_download_url_for_layer", {"downloadUrl": "https://b/x", "layerDigest": sha("evil")})
    request = validate_ecr_request(
        {"repository": REPO, "image_tag": "1.0", "platform": "linux/amd64", "concurrency": 1}
    )
    with pytest.raises(AnsibleAWSError) as e:
        resolve_image_layers(client, request, download_urls=True)
    assert "Could not get download URLs for 2 of 2 layers" in e.value.message
    assert f"LayerDigestMismatch for {sha('amd-config')}" in e.value.message
    assert [f["error_code"] for f in e.value.kwargs["failures"]] == ["LayerDigestMismatch"] * 2
