# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""An image set resolved with botocore's Stubber: batched BatchGetImage, one URL per distinct blob."""

import hashlib
import json

import pytest

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError

from ansible_collections.airgap.ecr.plugins.module_utils import manifest as m
from ansible_collections.airgap.ecr.plugins.module_utils.image_names import dns_suffix
from ansible_collections.airgap.ecr.plugins.module_utils.image_names import validate_image_name
from ansible_collections.airgap.ecr.plugins.module_utils.image_set import resolve_image_set
from ansible_collections.airgap.ecr.plugins.module_utils.image_set import validate_image_set_request
from ansible_collections.airgap.ecr.plugins.module_utils.image_set import with_dns_suffix
from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError

ACCOUNT = "123456789012"
OTHER = "210987654321"


def sha(text):
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def blob(media_type, seed, size):
    return {"mediaType": media_type, "digest": sha(seed), "size": size}


def image_manifest(config_seed, layer_seeds, media_type=m.OCI_MANIFEST):
    layer_type = "application/vnd.oci.image.layer.v1.tar+gzip"
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": blob("application/vnd.oci.image.config.v1+json", config_seed, 50),
            "layers": [blob(layer_type, seed, 1000 + len(seed)) for seed in layer_seeds],
        },
        indent=3,
    )


# Two images sharing the layer "base", one Docker, one OCI; an index whose amd64 image shares it too.
APP = image_manifest("app-config", ["base", "app"], m.DOCKER_MANIFEST)
WORKER = image_manifest("worker-config", ["base", "worker"])
AMD = image_manifest("amd-config", ["base", "amd"])
ARM = image_manifest("arm-config", ["arm"])
INDEX = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": m.OCI_INDEX,
        "manifests": [
            dict(blob(m.OCI_MANIFEST, AMD, len(AMD)), platform={"os": "linux", "architecture": "amd64"}),
            dict(blob(m.OCI_MANIFEST, ARM, len(ARM)), platform={"os": "linux", "architecture": "arm64"}),
        ],
    }
)
MEDIA_TYPES = {
    APP: m.DOCKER_MANIFEST,
    WORKER: m.OCI_MANIFEST,
    AMD: m.OCI_MANIFEST,
    ARM: m.OCI_MANIFEST,
    INDEX: m.OCI_INDEX,
}


def found(repository, image_id, text, registry_id=ACCOUNT):
    return {
        "registryId": registry_id,
        "repositoryName": repository,
        "imageId": dict(image_id, imageDigest=sha(text)),
        "imageManifest": text,
        "imageManifestMediaType": MEDIA_TYPES[text],
    }


def batch(stubber, repository, pairs, registry_id=None, failures=()):
    """One BatchGetImage call for ``pairs`` of (image id, text or None)."""
    expected = {"repositoryName": repository, "imageIds": [image_id for image_id, _text in pairs]}
    expected["acceptedMediaTypes"] = m.ACCEPTED_MEDIA_TYPES
    if registry_id:
        expected["registryId"] = registry_id
    answered = [found(repository, image_id, text, registry_id or ACCOUNT) for image_id, text in pairs if text]
    stubber.add_response("batch_get_image", {"images": answered, "failures": list(failures)}, expected)


def url_for(stubber, repository, digest, registry_id=None):
    expected = {"repositoryName": repository, "layerDigest": digest}
    if registry_id:
        expected["registryId"] = registry_id
    url = f"https://bucket.s3.eu-west-1.amazonaws.test/{digest}?X-Amz-Expires=600&X-Amz-Date=20300101T000000Z"
    stubber.add_response("get_download_url_for_layer", {"downloadUrl": url, "layerDigest": digest}, expected)


def request(images, region="eu-west-1", suffix=True, **options):
    return validate_image_set_request(dict({"images": images, "concurrency": 1}, **options), region, suffix)


def test_one_batch_per_repository_and_one_url_per_distinct_blob(stubbed):
    client, stubber = stubbed
    batch(stubber, "team/app", [({"imageTag": "1"}, APP), ({"imageTag": "2"}, APP)])
    batch(stubber, "team/worker", [({"imageDigest": sha(WORKER)}, WORKER)])
    # Blobs in input order, each through the first repository whose image has it.
    for digest in (sha("app-config"), sha("base"), sha("app")):
        url_for(stubber, "team/app", digest)
    for digest in (sha("worker-config"), sha("worker")):
        url_for(stubber, "team/worker", digest)
    images = [
        {"repository": "team/app", "tag": "1"},
        {"repository": "team/app", "tag": "2", "name": "registry.example/app:2"},
        {"repository": "team/worker", "digest": sha(WORKER)},
    ]
    result = resolve_image_set(client, request(images))
    assert [image["image_digest"] for image in result["images"]] == [sha(APP), sha(APP), sha(WORKER)]
    assert result["images"][0]["manifest"] == APP and result["images"][0]["media_type"] == m.DOCKER_MANIFEST
    assert [blob["digest"] for blob in result["blobs"]] == [
        sha(seed) for seed in ("app-config", "base", "app", "worker-config", "worker")
    ]
    assert all(
        blob["download_url"].endswith(blob["digest"] + "?X-Amz-Expires=600&X-Amz-Date=20300101T000000Z")
        for blob in result["blobs"]
    )
    assert result["blob_count"] == 5 and result["image_count"] == 3
    assert result["shared_blob_count"] == 1  # "base"; the two tags of one image share theirs with themselves only
    assert result["total_size"] == sum(blob["size"] for blob in result["blobs"])
    assert result["expires_at"] == "2030-01-01T00:10:00Z"
    first = result["images"][0]
    assert first["name"] == f"{ACCOUNT}.dkr.ecr.eu-west-1.{dns_suffix('eu-west-1')}/team/app:1"
    assert first["digest_name"] == f"{ACCOUNT}.dkr.ecr.eu-west-1.{dns_suffix('eu-west-1')}/team/app@{sha(APP)}"
    assert "download_url" not in first["config"] and "download_url" not in first["layers"][0]
    assert result["images"][1]["name"] == "registry.example/app:2"
    assert result["images"][1]["digest_name"] == f"registry.example/app@{sha(APP)}"
    assert result["images"][2]["name"].endswith(f"/team/worker@{sha(WORKER)}")
    assert result["images"][2]["tag"] is None and result["images"][2]["digest"] == sha(WORKER)


def test_more_than_100_images_of_a_repository_take_two_calls(stubbed):
    client, stubber = stubbed
    tags = [str(number) for number in range(101)]
    batch(stubber, "team/app", [({"imageTag": tag}, APP) for tag in tags[:100]])
    batch(stubber, "team/app", [({"imageTag": tags[100]}, APP)])
    result = resolve_image_set(
        client, request([{"repository": "team/app", "tag": tag} for tag in tags]), download_urls=False
    )
    assert result["image_count"] == 101 and result["blob_count"] == 3
    assert all(blob["download_url"] is None for blob in result["blobs"]) and result["expires_at"] is None


def test_indexes_are_followed_by_one_batched_call_and_shared_blobs_asked_once(stubbed):
    client, stubber = stubbed
    batch(stubber, "team/multi", [({"imageTag": "a"}, INDEX), ({"imageDigest": sha(INDEX)}, INDEX)])
    batch(stubber, "team/app", [({"imageTag": "1"}, APP)], registry_id=OTHER)
    batch(stubber, "team/multi", [({"imageDigest": sha(AMD)}, AMD)])
    for digest in (sha("amd-config"), sha("base"), sha("amd")):
        url_for(stubber, "team/multi", digest)
    for digest in (sha("app-config"), sha("app")):
        url_for(stubber, "team/app", digest, registry_id=OTHER)
    images = [
        {"repository": "team/multi", "tag": "a"},
        {"repository": "team/multi", "digest": sha(INDEX)},
        {"repository": "team/app", "tag": "1", "registry_id": OTHER},
    ]
    result = resolve_image_set(client, request(images, platform="linux/amd64"))
    multi = result["images"][0]
    assert multi["image_digest"] == sha(AMD) and multi["index_digest"] == sha(INDEX)
    assert multi["platform"] == "linux/amd64" and multi["manifest"] == AMD
    assert result["images"][1]["image_digest"] == sha(AMD)
    assert result["images"][2]["registry_id"] == OTHER and result["images"][2]["name"].startswith(OTHER + ".dkr.ecr.")
    assert result["blob_count"] == 5 and result["shared_blob_count"] == 1


def test_every_failed_image_is_named_with_the_platform(stubbed):
    client, stubber = stubbed
    missing = {"imageId": {"imageTag": "nope"}, "failureCode": "ImageNotFound", "failureReason": "not found"}
    batch(stubber, "team/multi", [({"imageTag": "a"}, INDEX), ({"imageTag": "nope"}, None)], failures=[missing])
    stubber.add_client_error("batch_get_image", "RepositoryNotFoundException", "no such repository", 400)
    images = [
        {"repository": "team/multi", "tag": "a"},
        {"repository": "team/multi", "tag": "nope"},
        {"repository": "team/gone", "tag": "1"},
    ]
    with pytest.raises(AnsibleAWSError) as e:
        resolve_image_set(client, request(images, platform="linux/s390x"))
    message = e.value.message
    assert message.startswith("Could not resolve 3 of 3 images for platform linux/s390x:")
    assert "images[0]: Image team/multi:a: the image index has no manifest for platform linux/s390x" in message
    assert "images[1]: Could not get image team/multi:nope: ImageNotFound" in message
    assert "images[2]: Could not get image team/gone:1: repository not found" in message
    failures = e.value.kwargs["failures"]
    assert [(f["position"], f["error_code"]) for f in failures] == [
        (0, "PlatformNotFound"),
        (1, "ImageNotFound"),
        (2, "RepositoryNotFoundException"),
    ]


def test_a_platform_manifest_that_does_not_match_the_index_fails_that_image(stubbed):
    client, stubber = stubbed
    batch(stubber, "team/multi", [({"imageTag": "a"}, INDEX)])
    tampered = dict(
        found("team/multi", {"imageDigest": sha(ARM)}, ARM), imageManifest=ARM.replace('"size": 50', '"size": 5')
    )
    stubber.add_response("batch_get_image", {"images": [tampered], "failures": []})
    with pytest.raises(AnsibleAWSError) as e:
        resolve_image_set(client, request([{"repository": "team/multi", "tag": "a"}], platform="linux/arm64"))
    assert e.value.kwargs["failures"][0]["error_code"] == "DigestMismatch"
    assert "that the index of team/multi:a names for linux/arm64" in e.value.message


def test_a_failed_url_names_the_blob_and_its_repository(stubbed):
    client, stubber = stubbed
    batch(stubber, "team/worker", [({"imageTag": "w"}, WORKER)])
    stubber.add_client_error("get_download_url_for_layer", "LayersNotFoundException", "gone", 400)
    url_for(stubber, "team/worker", sha("base"))
    url_for(stubber, "team/worker", sha("worker"))
    with pytest.raises(AnsibleAWSError) as e:
        resolve_image_set(client, request([{"repository": "team/worker", "tag": "w"}]))
    assert "Could not get download URLs for 1 of 3 layers in repository 'team/worker'" in e.value.message
    assert e.value.kwargs["failures"][0]["layer_digest"] == sha("worker-config")


def test_name_defaults_to_the_partition_dns_suffix_of_a_china_region(stubbed):
    client, stubber = stubbed
    batch(stubber, "team/app", [({"imageTag": "1"}, APP)])
    result = resolve_image_set(
        client, request([{"repository": "team/app", "tag": "1"}], region="cn-north-1"), download_urls=False
    )
    suffix = dns_suffix("cn-north-1")
    assert suffix != dns_suffix("eu-west-1") and suffix.endswith(".cn")
    assert result["images"][0]["name"] == f"{ACCOUNT}.dkr.ecr.cn-north-1.{suffix}/team/app:1"


def test_the_dns_suffix_is_read_with_the_client_s_loader_and_checked_before_any_call(stubbed):
    client, _stubber = stubbed
    loads = []
    loader = client._loader  # pylint: disable=protected-access

    class Counting:
        def load_data(self, name):
            loads.append(name)
            return loader.load_data(name)

    images = [{"repository": "team/app", "tag": "1"}]
    unchecked = request(images, region="cn-north-1", suffix=False)
    assert unchecked.dns_suffix is None
    assert with_dns_suffix(unchecked, Counting()).dns_suffix == dns_suffix("cn-north-1")
    assert loads == ["endpoints"]
    named = request([dict(images[0], name="registry.example/app:1")], region="nowhere", suffix=False)
    assert with_dns_suffix(named, Counting()) is named and loads == ["endpoints"]
    with pytest.raises(ValidationError, match="region 'nowhere' is in no AWS partition"):
        with_dns_suffix(request(images, region="nowhere", suffix=False), Counting())


@pytest.mark.parametrize(
    "images, expected",
    [
        ([], "images must be a non-empty list"),
        (["team/app:1"], "images[0] must be a dictionary"),
        ([{"tag": "1"}], "images[0].repository is required"),
        ([{"repository": "team/app"}], "images[0] must have exactly one of tag and digest, it has neither"),
        ([{"repository": "team/app", "tag": "1", "digest": "sha256:" + "a" * 64}], "images[0] must have exactly one"),
        (
            [{"repository": "team/app", "tag": "1"}, {"repository": "Team", "tag": "1"}],
            "images[1].repository 'Team' is not a valid ECR repository name",
        ),
        (
            [
                {"repository": "a/b", "tag": "x"},
                {"repository": "a/b", "tag": "1"},
                {"repository": "a/b", "tag": "bad tag"},
            ],
            "images[2].tag 'bad tag' is not a valid tag",
        ),
        ([{"repository": "a/b", "digest": "sha256:12"}], "images[0].digest 'sha256:12' is not a valid sha256 digest"),
        ([{"repository": "a/b", "tag": "1", "registry_id": "12"}], "images[0].registry_id '12' is not a registry id"),
        ([{"repository": "a/b", "tag": "1", "name": "Bad Name"}], "images[0].name 'Bad Name' is not an image name"),
        ([{"repository": "a/b", "tag": "1", "colour": "red"}], "images[0].colour is not an option of an image"),
    ],
)
def test_invalid_images_are_reported_with_their_position(images, expected):
    with pytest.raises(ValidationError) as e:
        request(images)
    assert expected in str(e.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ValidationError) as e:
        request([{"repository": "X", "tag": "1"}, {"repository": "a/b"}, {"repository": "a/b", "tag": "1", "name": ""}])
    assert "images[0].repository" in str(e.value) and "images[1] must have" in str(e.value)
    assert "images[2].name '' is not an image name" in str(e.value)


def test_an_unknown_region_needs_names():
    with pytest.raises(ValidationError, match="region 'xx-nowhere-1' is in no AWS partition"):
        request([{"repository": "a/b", "tag": "1"}], region="xx-nowhere-1")
    assert request([{"repository": "a/b", "tag": "1", "name": "a/b:1"}], region="xx-nowhere-1").dns_suffix is None


def test_the_top_level_registry_id_is_the_default_of_the_images():
    checked = request(
        [{"repository": "a/b", "tag": "1"}, {"repository": "a/c", "tag": "1", "registry_id": OTHER}],
        registry_id=ACCOUNT,
    )
    assert [spec.registry_id for spec in checked.images] == [ACCOUNT, OTHER]


@pytest.mark.parametrize(
    "name",
    ["app", "team/app:1.0", "registry.example:5000/team/app", "localhost/a/b@sha256:" + "0" * 64, "a.b/c__d/e-f:v_1"],
)
def test_image_names_accepted(name):
    assert validate_image_name(name) == name


@pytest.mark.parametrize(
    "name, expected",
    [
        ("team/App:1", "is not an image name"),
        ("team/app:-1", "has the tag '-1'"),
        ("team/app@sha256:12", "has an invalid digest"),
        ("https://registry.example/app", "is not an image name"),
        ("team/app:1@sha256:" + "0" * 64, "is not an image name"),
    ],
)
def test_image_names_refused(name, expected):
    with pytest.raises(ValidationError, match="name") as e:
        validate_image_name(name)
    assert expected in str(e.value)
