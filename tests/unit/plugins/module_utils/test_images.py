# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import hashlib
import json

import pytest

from ansible_collections.airgap.ecr.plugins.module_utils import manifest as m
from ansible_collections.airgap.ecr.plugins.module_utils.images import ImageError
from ansible_collections.airgap.ecr.plugins.module_utils.images import resolve_image
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
    with pytest.raises(ImageError) as e:
        resolve_image(client, REPO, parse_platform("linux/s390x"), digest=sha(INDEX))
    assert "no manifest for platform linux/s390x; it offers linux/amd64, linux/arm64/v8" in str(e.value)


def test_manifest_that_does_not_match_the_digest_asked_for_fails(stubbed):
    client, stubber = stubbed
    wanted = sha(AMD)
    answer(stubber, {"imageDigest": wanted}, AMD + "\n", m.OCI_MANIFEST, digest=wanted)
    with pytest.raises(ImageError, match="altered or corrupted") as e:
        resolve_image(client, REPO, parse_platform("linux/amd64"), digest=wanted)
    assert e.value.code == "DigestMismatch"


def test_index_entry_whose_manifest_does_not_match_fails(stubbed):
    client, stubber = stubbed
    answer(stubber, {"imageTag": "multi"}, INDEX, m.OCI_INDEX)
    answer(stubber, {"imageDigest": sha(AMD)}, ARM, m.OCI_MANIFEST, digest=sha(AMD))
    with pytest.raises(ImageError, match="that the index of team/app:multi names for linux/amd64"):
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
    with pytest.raises(ImageError) as e:
        resolve_image(client, REPO, parse_platform("linux/amd64"), tag="nope")
    assert str(e.value).startswith("Could not get image team/app:nope: ImageNotFound: ECR has no image team/app:nope")


def test_missing_repository_is_explained(stubbed):
    client, stubber = stubbed
    stubber.add_client_error("batch_get_image", "RepositoryNotFoundException", "no such repo", 400)
    with pytest.raises(ImageError, match="repository not found") as e:
        resolve_image(client, REPO, parse_platform("linux/amd64"), tag="1")
    assert e.value.exception is None


def test_access_denied_names_batch_get_image(stubbed):
    client, stubber = stubbed
    stubber.add_client_error("batch_get_image", "AccessDeniedException", "denied", 400)
    with pytest.raises(ImageError, match="Grant ecr:BatchGetImage"):
        resolve_image(client, REPO, parse_platform("linux/amd64"), tag="1")


def test_schema1_is_rejected(stubbed):
    client, stubber = stubbed
    text = json.dumps({"schemaVersion": 1, "name": REPO, "tag": "old", "fsLayers": []})
    answer(stubber, {"imageTag": "old"}, text, m.DOCKER_SCHEMA1_SIGNED)
    with pytest.raises(ImageError, match="schema 1"):
        resolve_image(client, REPO, parse_platform("linux/amd64"), tag="old")
