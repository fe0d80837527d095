# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The emulator's own tests, all against its real HTTP endpoint (boto3, the AWS CLI, curl)."""

import hashlib
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from ansible_collections.airgap.ecr.tests.emulator import harness
from ansible_collections.airgap.ecr.tests.emulator import images

HERE = os.path.dirname(os.path.abspath(__file__))

PRESIGN_PARAMETERS = (
    "X-Amz-Algorithm=AWS4-HMAC-SHA256",
    "X-Amz-Credential=",
    "X-Amz-Date=",
    "X-Amz-Expires=3600",
    "X-Amz-SignedHeaders=host",
    "X-Amz-Signature=",
)
NO_RETRY = Config(retries={"total_max_attempts": 1})
ACCOUNT = "123456789012"
BUCKET = f"ecr-layers-{ACCOUNT}-us-east-1"
DEMO = images.DEMO_REPOSITORY
# The digest of airgap/demo:1.0 as seeded since the emulator's first version.
DEMO_DIGEST = "sha256:9f08c997471f656449e3fd301dfafd0ac3540ec6c66f4476608f06986c917218"


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def error_code(exc_info):
    return exc_info.value.response["Error"]["Code"]


def fetch(url, headers=None, timeout=30):
    """GET ``url`` with urllib (no AWS credentials); return (status, headers, body) also for HTTP errors."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def curl(url, output):
    """Download with curl; return (exit code, HTTP status)."""
    result = subprocess.run(
        ["curl", "-sS", "-o", str(output), "-w", "%{http_code}", url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.returncode, int(result.stdout or 0)


def find_aws_cli():
    configured = os.environ.get("AIRGAP_AWS_CLI")
    if configured:
        return configured
    directory = HERE
    while True:
        candidate = os.path.join(directory, ".venv-awscli", "bin", "aws")
        if os.path.exists(candidate):
            return candidate
        parent = os.path.dirname(directory)
        if parent == directory:
            return os.path.join(os.path.dirname(os.path.dirname(HERE)), ".venv-awscli", "bin", "aws")
        directory = parent


@pytest.fixture(scope="module")
def emulator():
    with harness.Emulator(seed_demo=True) as emu:
        yield emu


@pytest.fixture
def emu(emulator):
    """The seeded emulator with faults, request log and config reset around each test."""
    emulator.reset()
    yield emulator
    emulator.reset()


@pytest.fixture(scope="module")
def demo(emulator):
    found = [image for image in emulator.images() if image["repository"] == DEMO and images.DEMO_TAG in image["tags"]]
    assert len(found) == 1, emulator.images()
    return found[0]


@pytest.fixture
def ecr(emu):
    return emu.client("ecr", config=NO_RETRY)


@pytest.fixture(scope="module")
def auth_emulator():
    with harness.Emulator(auth=True) as emu:
        client = emu.client("ecr", config=NO_RETRY)
        layer = images.make_layer(4096, 70)
        pushed = images.push_image(client, "auth/test", "v1", [layer], images.make_config([layer]))
        emu.pushed = pushed
        emu.reset()
        yield emu


@pytest.fixture(scope="session")
def aws_cli(tmp_path_factory):
    path = find_aws_cli()
    if not os.access(path, os.X_OK):
        pytest.fail(f"AWS CLI not found at {path}: create .venv-awscli (see the Makefile) or set AIRGAP_AWS_CLI")
    home = tmp_path_factory.mktemp("aws-cli-home")
    config_file = home / "config"
    credentials_file = home / "credentials"
    config_file.write_text("")
    credentials_file.write_text("")

    def run(emu, *args, credentials=None):
        credentials = credentials or harness.FULL_ACCESS
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "AWS_CONFIG_FILE": str(config_file),
            "AWS_SHARED_CREDENTIALS_FILE": str(credentials_file),
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_ACCESS_KEY_ID": credentials["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": credentials["aws_secret_access_key"],
        }
        if credentials.get("aws_session_token"):
            env["AWS_SESSION_TOKEN"] = credentials["aws_session_token"]
        command = [path, "--endpoint-url", emu.endpoint_url, "--output", "json", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)

    return run


def demo_blobs(demo):
    return demo["layers"] + [demo["config"]]


# ---------------------------------------------------------------------- basics


def test_control_api_is_not_logged(emu):
    assert emu.health() == {"ok": True}
    emu.images()
    emu.faults()
    emu.config()
    assert not emu.requests()
    status, body = harness.http_json(f"{emu.endpoint_url}/_emulator/nope")
    assert status == 404 and "error" in body
    assert not emu.requests()


def test_seeded_demo_is_deterministic(demo):
    layers, config = images.demo_blobs()
    manifest, media_type = images.make_manifest(layers, config, "docker")
    assert media_type == images.DOCKER_MANIFEST == demo["media_type"]
    assert demo["image_digest"] == sha256(manifest)
    assert demo["manifest_size"] == len(manifest)
    assert demo["config"] == {"digest": sha256(config), "size": len(config), "media_type": images.DOCKER_CONFIG}
    assert [layer["digest"] for layer in demo["layers"]] == [sha256(layer) for layer in layers]
    sizes = [layer["size"] for layer in demo["layers"]]
    assert (
        32 * 1024 <= sizes[0] < 40 * 1024
        and 1024 * 1024 <= sizes[1] < 1100 * 1024
        and 4096 * 1024 <= sizes[2] < 4200 * 1024
    )
    parsed = json.loads(config)
    assert (parsed["architecture"], parsed["os"]) == ("amd64", "linux")
    assert parsed["rootfs"]["diff_ids"] == [images.diff_id(layer) for layer in layers]


def test_seeded_demo_digest_is_stable(demo):
    # The digest of airgap/demo:1.0 is part of the demo's contract: seeding more images must not change it.
    assert demo["image_digest"] == DEMO_DIGEST


def test_seeded_multi_platform_index(emu, ecr, demo):
    seeded = [image for image in emu.images() if image["repository"] == DEMO and images.DEMO_MULTI_TAG in image["tags"]]
    assert len(seeded) == 1, emu.images()
    index = seeded[0]
    assert index["media_type"] == images.OCI_INDEX
    got = ecr.batch_get_image(repositoryName=DEMO, imageIds=[{"imageTag": images.DEMO_MULTI_TAG}])["images"][0]
    text = got["imageManifest"].encode("utf-8")
    assert sha256(text) == got["imageId"]["imageDigest"] == index["image_digest"]
    assert got["imageManifestMediaType"] == images.OCI_INDEX
    parsed = json.loads(text)
    assert parsed["mediaType"] == images.OCI_INDEX and parsed["schemaVersion"] == 2
    assert [entry["platform"] for entry in parsed["manifests"]] == [
        {"os": "linux", "architecture": "amd64"},
        {"os": "linux", "architecture": "arm64", "variant": "v8"},
    ]
    # Deterministic: the same bytes as images.py builds locally.
    expected = []
    for platform, layers, config in images.demo_multi_blobs():
        manifest, media_type = images.make_manifest(layers, config, "oci")
        expected.append(
            {"digest": sha256(manifest), "size": len(manifest), "media_type": media_type, "platform": platform}
        )
    assert sha256(images.make_index(expected, "oci")[0]) == index["image_digest"]
    by_digest = {image["image_digest"]: image for image in emu.images() if image["repository"] == DEMO}
    seen_blobs = set()
    for entry, (platform, layers, config) in zip(parsed["manifests"], images.demo_multi_blobs(), strict=True):
        assert entry["mediaType"] == images.OCI_MANIFEST
        child = ecr.batch_get_image(repositoryName=DEMO, imageIds=[{"imageDigest": entry["digest"]}])["images"][0]
        child_text = child["imageManifest"].encode("utf-8")
        assert sha256(child_text) == entry["digest"] and len(child_text) == entry["size"]
        assert child["imageManifestMediaType"] == images.OCI_MANIFEST
        assert "tags" in by_digest[entry["digest"]] and not by_digest[entry["digest"]]["tags"]
        child_manifest = json.loads(child_text)
        blobs = [child_manifest["config"]] + child_manifest["layers"]
        assert [blob["digest"] for blob in blobs] == [sha256(config)] + [sha256(layer) for layer in layers]
        assert child_manifest["config"]["mediaType"] == images.OCI_CONFIG
        assert {layer["mediaType"] for layer in child_manifest["layers"]} == {images.OCI_LAYER}
        parsed_config = json.loads(config)
        assert (
            (parsed_config["os"], parsed_config["architecture"], parsed_config.get("variant"))
            == (platform["os"], platform["architecture"], platform.get("variant"))
            == (entry["platform"]["os"], entry["platform"]["architecture"], entry["platform"].get("variant"))
        )
        for blob in blobs:
            url = ecr.get_download_url_for_layer(repositoryName=DEMO, layerDigest=blob["digest"])["downloadUrl"]
            status, _headers, data = fetch(url)
            assert status == 200 and len(data) == blob["size"] and sha256(data) == blob["digest"]
            seen_blobs.add(blob["digest"])
    # Every blob is its own: none shared between the platforms or with airgap/demo:1.0.
    assert len(seen_blobs) == 6
    assert not seen_blobs & {blob["digest"] for blob in demo_blobs(demo)}


def test_aws_cli_and_curl_download_every_blob(emu, demo, aws_cli, tmp_path):
    for index, blob in enumerate(demo_blobs(demo)):
        for extra in ([], ["--registry-id", ACCOUNT]):
            result = aws_cli(
                emu,
                "ecr",
                "get-download-url-for-layer",
                "--repository-name",
                DEMO,
                "--layer-digest",
                blob["digest"],
                *extra,
            )
            assert result.returncode == 0, result.stderr
            answer = json.loads(result.stdout)
            assert answer["layerDigest"] == blob["digest"]
            url = answer["downloadUrl"]
            assert url.startswith(f"{emu.endpoint_url}/{BUCKET}/")
            for name in PRESIGN_PARAMETERS:
                assert name in url
            target = tmp_path / f"blob-{index}-{len(extra)}"
            download = subprocess.run(
                ["curl", "-sSf", "-o", str(target), url], capture_output=True, text=True, timeout=60, check=False
            )
            assert download.returncode == 0, download.stderr
            data = target.read_bytes()
            assert len(data) == blob["size"]
            assert sha256(data) == blob["digest"]


def test_image_digest_is_sha256_of_manifest_bytes(emu, ecr):
    layers = [images.make_layer(10000, 11), images.make_layer(20000, 12)]
    config = images.make_config(layers, arch="arm64", variant="v8")
    pushed = images.push_image(ecr, "test/digest", "oci", layers, config, media_type="oci")
    assert pushed["image_digest"] == sha256(pushed["manifest"].encode("utf-8"))
    # The same blobs under an unusually formatted manifest: a different digest, still that of the bytes.
    odd = json.dumps(json.loads(pushed["manifest"]), indent=7, sort_keys=True) + "\n\n"
    other = images.push_manifest(ecr, "test/digest", "odd", odd, images.OCI_MANIFEST)
    assert other["image_digest"] == sha256(odd.encode("utf-8")) != pushed["image_digest"]

    for tag, expected, manifest in (
        ("oci", pushed["image_digest"], pushed["manifest"]),
        ("odd", other["image_digest"], odd),
    ):
        by_tag = ecr.batch_get_image(
            repositoryName="test/digest", imageIds=[{"imageTag": tag}], acceptedMediaTypes=[images.OCI_MANIFEST]
        )
        assert not by_tag["failures"]
        got = by_tag["images"][0]
        assert got["imageId"] == {"imageDigest": expected, "imageTag": tag}
        assert got["imageManifest"] == manifest
        assert got["imageManifestMediaType"] == images.OCI_MANIFEST
        by_digest = ecr.batch_get_image(repositoryName="test/digest", imageIds=[{"imageDigest": expected}])
        assert by_digest["images"][0]["imageManifest"] == manifest
        assert by_digest["images"][0]["imageId"] == {"imageDigest": expected}
        described = ecr.describe_images(repositoryName="test/digest", imageIds=[{"imageDigest": expected}])[
            "imageDetails"
        ]
        assert [item["imageDigest"] for item in described] == [expected]
        assert described[0]["imageTags"] == [tag]
        assert described[0]["imageManifestMediaType"] == images.OCI_MANIFEST

    all_images = ecr.describe_images(repositoryName="test/digest")["imageDetails"]
    assert {item["imageDigest"] for item in all_images} == {pushed["image_digest"], other["image_digest"]}
    assert all_images[0]["imageSizeInBytes"] == sum(len(layer) for layer in layers)
    assert all_images[0]["artifactMediaType"] == images.OCI_CONFIG
    listed = ecr.list_images(repositoryName="test/digest")["imageIds"]
    assert sorted((item["imageTag"], item["imageDigest"]) for item in listed) == sorted(
        [("oci", pushed["image_digest"]), ("odd", other["image_digest"])]
    )
    missing = ecr.batch_get_image(repositoryName="test/digest", imageIds=[{"imageTag": "nope"}])
    assert missing["failures"][0]["failureCode"] == "ImageNotFound" and not missing["images"]


def test_retagging_leaves_the_old_image_untagged(emu, ecr):
    first = images.push_image(
        ecr, "test/retag", "latest", [images.make_layer(1000, 21)], images.make_config([images.make_layer(1000, 21)])
    )
    layer = images.make_layer(1000, 22)
    second = images.push_image(ecr, "test/retag", "latest", [layer], images.make_config([layer]))
    details = {item["imageDigest"]: item for item in ecr.describe_images(repositoryName="test/retag")["imageDetails"]}
    assert details[second["image_digest"]]["imageTags"] == ["latest"]
    assert "imageTags" not in details[first["image_digest"]]
    untagged = ecr.list_images(repositoryName="test/retag", filter={"tagStatus": "UNTAGGED"})["imageIds"]
    assert untagged == [{"imageDigest": first["image_digest"]}]
    with pytest.raises(ClientError) as exc:
        images.push_manifest(ecr, "test/retag", "latest", second["manifest"], images.DOCKER_MANIFEST)
    assert error_code(exc) == "ImageAlreadyExistsException"


def test_index_manifests(emu, ecr):
    children = []
    for arch, seed in (("amd64", 31), ("arm64", 32)):
        layer = images.make_layer(2000, seed)
        child = images.push_image(
            ecr, "test/index", None, [layer], images.make_config([layer], arch=arch), media_type="oci"
        )
        child["digest"] = child["image_digest"]
        child["platform"] = {"os": "linux", "architecture": arch}
        children.append(child)
    index, media_type = images.make_index(children, "oci")
    pushed = images.push_manifest(ecr, "test/index", "multi", index, media_type)
    assert pushed["image_digest"] == sha256(index)
    listed = [item for item in emu.images() if item["repository"] == "test/index" and "multi" in item["tags"]]
    assert [child["digest"] for child in listed[0]["manifests"]] == [child["digest"] for child in children]
    orphan = images.make_index(
        [{"digest": "sha256:" + "1" * 64, "size": 10, "media_type": images.OCI_MANIFEST}], "oci"
    )[0]
    with pytest.raises(ClientError) as exc:
        images.push_manifest(ecr, "test/index", "broken", orphan, images.OCI_INDEX)
    assert error_code(exc) == "ReferencedImagesNotFoundException"


def test_push_is_verified(emu, ecr):
    images.ensure_repository(ecr, "test/push")
    data = images.make_layer(300000, 41)
    upload = ecr.initiate_layer_upload(repositoryName="test/push")
    ecr.upload_layer_part(
        repositoryName="test/push",
        uploadId=upload["uploadId"],
        partFirstByte=0,
        partLastByte=99999,
        layerPartBlob=data[:100000],
    )
    with pytest.raises(ClientError) as exc:
        ecr.upload_layer_part(
            repositoryName="test/push",
            uploadId=upload["uploadId"],
            partFirstByte=200000,
            partLastByte=299999,
            layerPartBlob=data[200000:],
        )
    assert error_code(exc) == "InvalidLayerPartException"
    ecr.upload_layer_part(
        repositoryName="test/push",
        uploadId=upload["uploadId"],
        partFirstByte=100000,
        partLastByte=len(data) - 1,
        layerPartBlob=data[100000:],
    )
    with pytest.raises(ClientError) as exc:
        ecr.complete_layer_upload(
            repositoryName="test/push", uploadId=upload["uploadId"], layerDigests=[sha256(b"something else")]
        )
    assert error_code(exc) == "InvalidLayerException"
    assert images.push_blob(ecr, "test/push", data, chunk_size=64 * 1024) == sha256(data)
    log = [entry for entry in emu.requests() if entry["operation"] == "UploadLayerPart" and entry["status"] == 200]
    assert len(log) >= 2 + 5 and all("layerPartBlob" not in entry["params"] for entry in log)
    upload = ecr.initiate_layer_upload(repositoryName="test/push")
    ecr.upload_layer_part(
        repositoryName="test/push",
        uploadId=upload["uploadId"],
        partFirstByte=0,
        partLastByte=len(data) - 1,
        layerPartBlob=data,
    )
    with pytest.raises(ClientError) as exc:
        ecr.complete_layer_upload(repositoryName="test/push", uploadId=upload["uploadId"], layerDigests=[sha256(data)])
    assert error_code(exc) == "LayerAlreadyExistsException"
    config = images.make_config([data, images.make_layer(10, 42)])
    manifest, media_type = images.make_manifest([data, images.make_layer(10, 42)], config)
    images.push_blob(ecr, "test/push", config)
    with pytest.raises(ClientError) as exc:
        images.push_manifest(ecr, "test/push", "x", manifest, media_type)
    assert error_code(exc) == "LayersNotFoundException"
    with pytest.raises(ClientError) as exc:
        ecr.put_image(
            repositoryName="test/push", imageManifest=manifest.decode(), imageTag="x", imageDigest=sha256(b"other")
        )
    assert error_code(exc) == "ImageDigestDoesNotMatchException"


def test_foreign_layer_need_not_be_uploaded(emu, ecr):
    # A foreign layer's bytes live elsewhere (its urls): PutImage does not ask for them, as with ECR.
    foreign = images.make_layer(3000, 81)
    layer = images.make_layer(3000, 82)
    config = images.make_config([foreign, layer])
    images.ensure_repository(ecr, "test/foreign")
    for blob in (layer, config):
        images.push_blob(ecr, "test/foreign", blob)
    manifest = json.loads(images.make_manifest([foreign, layer], config, "docker")[0])
    manifest["layers"][0]["mediaType"] = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    manifest["layers"][0]["urls"] = ["https://example.invalid/layer.tar.gz"]
    text = json.dumps(manifest, indent=3)
    pushed = images.push_manifest(ecr, "test/foreign", "1", text, images.DOCKER_MANIFEST)
    assert pushed["image_digest"] == sha256(text.encode("utf-8"))
    assert (
        ecr.batch_get_image(repositoryName="test/foreign", imageIds=[{"imageTag": "1"}])["images"][0]["imageManifest"]
        == text
    )
    url = ecr.get_download_url_for_layer(repositoryName="test/foreign", layerDigest=sha256(layer))["downloadUrl"]
    assert sha256(fetch(url)[2]) == sha256(layer)


def test_any_signing_region_reaches_the_registry(emu, demo):
    client = emu.client("ecr", region_name="eu-west-1", config=NO_RETRY)
    assert DEMO in [repo["repositoryName"] for repo in client.describe_repositories()["repositories"]]
    url = client.get_download_url_for_layer(repositoryName=DEMO, layerDigest=demo["config"]["digest"])["downloadUrl"]
    assert sha256(fetch(url)[2]) == demo["config"]["digest"]


def test_pagination(emu, ecr):
    pushed = []
    for seed in (61, 62, 63):
        layer = images.make_layer(500, seed)
        pushed.append(
            images.push_image(ecr, "test/pages", f"t{seed}", [layer], images.make_config([layer]))["image_digest"]
        )
    pages = list(
        ecr.get_paginator("describe_images").paginate(repositoryName="test/pages", PaginationConfig={"PageSize": 2})
    )
    assert [len(page["imageDetails"]) for page in pages] == [2, 1]
    assert [item["imageDigest"] for page in pages for item in page["imageDetails"]] == pushed
    pages = list(
        ecr.get_paginator("list_images").paginate(repositoryName="test/pages", PaginationConfig={"PageSize": 1})
    )
    assert [page["imageIds"][0]["imageDigest"] for page in pages] == pushed


def test_delete_repository_removes_its_blobs(emu, ecr):
    layer = images.make_layer(800, 71)
    pushed = images.push_image(ecr, "test/delete", "1", [layer], images.make_config([layer]))
    images.push_image(ecr, "test/delete/nested", "1", [layer], images.make_config([layer]))
    s3 = emu.client("s3", config=NO_RETRY)

    def keys(prefix):
        return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))

    assert keys("test/delete/sha256:") == sorted(
        f"test/delete/{blob['digest']}" for blob in pushed["layers"] + [pushed["config"]]
    )
    with pytest.raises(ClientError) as exc:
        ecr.delete_repository(repositoryName="test/delete")
    assert error_code(exc) == "RepositoryNotEmptyException"
    ecr.delete_repository(repositoryName="test/delete", force=True)
    assert not keys("test/delete/sha256:")
    assert len(keys("test/delete/nested/")) == 2
    assert "test/delete" not in [item["repository"] for item in emu.images()]


# ---------------------------------------------------------------------- GetDownloadUrlForLayer errors


@pytest.mark.parametrize(
    "kwargs, code, text",
    [
        (
            {"repositoryName": "no/such-repo"},
            "RepositoryNotFoundException",
            "name 'no/such-repo' does not exist in the registry with id '123456789012'",
        ),
        (
            {"registryId": "210987654321"},
            "RepositoryNotFoundException",
            "name 'airgap/demo' does not exist in the registry with id '210987654321'",
        ),
        ({"layerDigest": "sha256:not-hex"}, "InvalidParameterException", "layerDigest"),
        ({"layerDigest": "no-colon"}, "InvalidParameterException", "layerDigest"),
        ({"layerDigest": "sha256:" + "0" * 64}, "LayersNotFoundException", "could not be found"),
    ],
)
def test_download_url_errors(ecr, demo, kwargs, code, text):
    params = {"repositoryName": DEMO, "layerDigest": demo["layers"][0]["digest"]}
    params.update(kwargs)
    with pytest.raises(ClientError) as exc:
        ecr.get_download_url_for_layer(**params)
    assert error_code(exc) == code
    assert text in exc.value.response["Error"]["Message"]
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_download_url_for_unreferenced_blob(ecr, demo):
    images.ensure_repository(ecr, "test/unreferenced")
    digest = images.push_blob(ecr, "test/unreferenced", b"uploaded but never referenced")
    with pytest.raises(ClientError) as exc:
        ecr.get_download_url_for_layer(repositoryName="test/unreferenced", layerDigest=digest)
    assert error_code(exc) == "LayersNotFoundException"
    # A blob of another repository's image is not this repository's either.
    with pytest.raises(ClientError) as exc:
        ecr.get_download_url_for_layer(repositoryName="test/unreferenced", layerDigest=demo["layers"][0]["digest"])
    assert error_code(exc) == "LayersNotFoundException"


def test_download_url_for_inaccessible_blob(emu, ecr):
    layers = [images.make_layer(5000, 51), images.make_layer(5000, 52)]
    pushed = images.push_image(ecr, "test/inaccessible", "1", layers, images.make_config(layers))
    gone, kept = pushed["layers"][0]["digest"], pushed["layers"][1]["digest"]
    assert emu.delete_blob("test/inaccessible", gone)["ok"] is True
    with pytest.raises(ClientError) as exc:
        ecr.get_download_url_for_layer(repositoryName="test/inaccessible", layerDigest=gone)
    assert error_code(exc) == "LayerInaccessibleException"
    url = ecr.get_download_url_for_layer(repositoryName="test/inaccessible", layerDigest=kept)["downloadUrl"]
    assert sha256(fetch(url)[2]) == kept
    with pytest.raises(harness.EmulatorError):
        emu.delete_blob("test/inaccessible", gone)


def test_errors_are_ecr_json(emu):
    request = urllib.request.Request(
        emu.endpoint_url + "/",
        data=json.dumps({"repositoryName": "missing", "layerDigest": "sha256:" + "a" * 64}).encode(),
        headers={
            "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.GetDownloadUrlForLayer",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(request, timeout=30)  # pylint: disable=consider-using-with
    assert exc.value.code == 400
    assert exc.value.headers["x-amzn-ErrorType"] == "RepositoryNotFoundException"
    body = json.loads(exc.value.read())
    assert body["__type"] == "RepositoryNotFoundException" and "missing" in body["message"]


# ---------------------------------------------------------------------- pre-signed URLs


def test_url_expires(emu, ecr, demo, tmp_path):
    digest = demo["layers"][0]["digest"]
    assert emu.config(url_ttl=1)["url_ttl"] == 1
    url = ecr.get_download_url_for_layer(repositoryName=DEMO, layerDigest=digest)["downloadUrl"]
    assert "X-Amz-Expires=1&" in url
    time.sleep(2.1)
    code, status = curl(url, tmp_path / "expired")
    assert (code, status) == (0, 403)
    body = (tmp_path / "expired").read_text()
    assert "<Code>AccessDenied</Code>" in body and "Request has expired" in body
    emu.reset()
    url = ecr.get_download_url_for_layer(repositoryName=DEMO, layerDigest=digest)["downloadUrl"]
    assert "X-Amz-Expires=3600&" in url
    assert curl(url, tmp_path / "fresh") == (0, 200)
    assert sha256((tmp_path / "fresh").read_bytes()) == digest


def test_tampered_urls_are_refused(ecr, demo):
    url = ecr.get_download_url_for_layer(repositoryName=DEMO, layerDigest=demo["layers"][0]["digest"])["downloadUrl"]
    assert fetch(url)[0] == 200
    signature = url.rsplit("=", 1)[1]
    tampered = url[: -len(signature)] + ("0" if signature[0] != "0" else "1") + signature[1:]
    status, _headers, body = fetch(tampered)
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body
    status, _headers, body = fetch(url.replace("X-Amz-Expires=3600", "X-Amz-Expires=7200"))
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body
    other_blob = url.replace(demo["layers"][0]["digest"].split(":")[1], demo["layers"][1]["digest"].split(":")[1])
    assert fetch(other_blob)[0] == 403
    status, _headers, body = fetch(url.split("?")[0])
    assert status == 403 and b"<Code>AccessDenied</Code>" in body


def test_range_requests(ecr, demo):
    blob = demo["layers"][1]
    url = ecr.get_download_url_for_layer(repositoryName=DEMO, layerDigest=blob["digest"])["downloadUrl"]
    status, headers, whole = fetch(url)
    assert status == 200 and int(headers["Content-Length"]) == blob["size"] == len(whole)
    assert headers["Accept-Ranges"] == "bytes"
    status, headers, part = fetch(url, {"Range": "bytes=1000-1999"})
    assert status == 206 and part == whole[1000:2000]
    assert headers["Content-Range"] == f"bytes 1000-1999/{blob['size']}"
    status, _headers, tail = fetch(url, {"Range": f"bytes={blob['size'] - 10}-"})
    assert status == 206 and tail == whole[-10:]
    status, _headers, suffix = fetch(url, {"Range": "bytes=-7"})
    assert status == 206 and suffix == whole[-7:]
    status, _headers, body = fetch(url, {"Range": f"bytes={blob['size']}-"})
    assert status == 416 and b"InvalidRange" in body


def test_concurrent_downloads(emu, demo):
    blobs = demo_blobs(demo) * 4

    def one(blob):
        client = emu.client("ecr", config=NO_RETRY)
        url = client.get_download_url_for_layer(repositoryName=DEMO, layerDigest=blob["digest"])["downloadUrl"]
        return sha256(fetch(url, timeout=60)[2]) == blob["digest"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        assert all(pool.map(one, blobs))
    log = emu.requests()
    assert sum(1 for entry in log if entry["operation"] == "GetObject" and entry["status"] == 200) == len(blobs)
    assert len({entry["seq"] for entry in log}) == len(log)


# ---------------------------------------------------------------------- faults


def test_throttling_fault_then_success(emu, ecr, demo):
    digest = demo["layers"][0]["digest"]
    rule = emu.faults(
        operation="GetDownloadUrlForLayer", count=2, code="ThrottlingException", status=400, message="Rate exceeded"
    )
    assert [item["id"] for item in emu.faults()] == [rule]
    for _attempt in range(2):
        with pytest.raises(ClientError) as exc:
            ecr.get_download_url_for_layer(repositoryName=DEMO, layerDigest=digest)
        assert error_code(exc) == "ThrottlingException"
        assert exc.value.response["Error"]["Message"] == "Rate exceeded"
    assert ecr.get_download_url_for_layer(repositoryName=DEMO, layerDigest=digest)["layerDigest"] == digest
    assert not emu.faults()
    log = [entry for entry in emu.requests() if entry["operation"] == "GetDownloadUrlForLayer"]
    assert [(entry["status"], entry["error_code"]) for entry in log] == [(400, "ThrottlingException")] * 2 + [
        (200, None)
    ]
    assert all(entry["params"]["layerDigest"] == digest for entry in log)


def test_fault_for_every_request_until_cleared(emu, ecr):
    emu.faults(operation="*", count=None, code="ServerException", status=500)
    for _attempt in range(3):
        with pytest.raises(ClientError) as exc:
            ecr.describe_repositories()
        assert error_code(exc) == "ServerException"
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    emu.clear_faults()
    assert ecr.describe_repositories()["repositories"]


def test_latency_fault(emu, ecr, demo):
    digest = demo["layers"][0]["digest"]
    started = time.monotonic()
    ecr.get_download_url_for_layer(repositoryName=DEMO, layerDigest=digest)
    baseline = time.monotonic() - started
    emu.faults(operation="GetDownloadUrlForLayer", count=1, latency_ms=600)
    started = time.monotonic()
    ecr.get_download_url_for_layer(repositoryName=DEMO, layerDigest=digest)
    delayed = time.monotonic() - started
    started = time.monotonic()
    ecr.get_download_url_for_layer(repositoryName=DEMO, layerDigest=digest)
    after = time.monotonic() - started
    assert delayed >= 0.6 and delayed > baseline + 0.5
    assert after < 0.5


def test_get_object_faults(emu, ecr, demo):
    first, second = demo["layers"][0], demo["layers"][1]
    url_first = ecr.get_download_url_for_layer(repositoryName=DEMO, layerDigest=first["digest"])["downloadUrl"]
    url_second = ecr.get_download_url_for_layer(repositoryName=DEMO, layerDigest=second["digest"])["downloadUrl"]
    status, _headers, good = fetch(url_first)
    assert status == 200 and sha256(good) == first["digest"]

    emu.faults(operation="GetObject", count=1, corrupt=True, digest=first["digest"])
    status, _headers, data = fetch(url_second)
    assert status == 200 and sha256(data) == second["digest"]
    status, _headers, data = fetch(url_first)
    assert status == 200 and len(data) == len(good) and data != good and sha256(data) != first["digest"]
    assert sha256(fetch(url_first)[2]) == first["digest"]

    emu.faults(operation="GetObject", count=1, truncate=1000)
    status, headers, data = fetch(url_first)
    assert status == 200 and data == good[:1000] and headers["Content-Length"] == "1000"

    emu.faults(operation="GetObject", count=1, code="InternalError", status=500, message="boom")
    status, _headers, body = fetch(url_first)
    assert status == 500 and b"<Code>InternalError</Code>" in body and b"boom" in body
    assert fetch(url_first)[0] == 200
    log = [entry for entry in emu.requests() if entry["service"] == "s3"]
    assert [entry["status"] for entry in log] == [200, 200, 200, 200, 200, 500, 200]
    assert log[-2]["error_code"] == "InternalError"
    assert log[0]["params"] == {"bucket": BUCKET, "key": f"{DEMO}/{first['digest']}"}


def test_get_object_bytes_per_second_paces_each_download(emu, ecr, demo):
    layer = max(demo["layers"], key=lambda entry: entry["size"])
    url = ecr.get_download_url_for_layer(repositoryName=DEMO, layerDigest=layer["digest"])["downloadUrl"]
    rate = max(1, layer["size"] * 2)  # the whole layer in about half a second
    emu.faults(operation="GetObject", bytes_per_second=rate)
    started = time.monotonic()
    status, headers, data = fetch(url)
    elapsed = time.monotonic() - started
    assert status == 200 and sha256(data) == layer["digest"] and headers["Content-Length"] == str(layer["size"])
    assert elapsed >= 0.4, f"{layer['size']} bytes at {rate} B/s took only {elapsed:.2f} s"
    for rule in (
        {"operation": "GetDownloadUrlForLayer", "bytes_per_second": 10},
        {"operation": "GetObject", "bytes_per_second": 0},
    ):
        status, body = harness.http_json(f"{emu.endpoint_url}/_emulator/faults", "POST", rule)
        assert status == 400 and "bytes_per_second" in body["error"], rule


def test_get_object_bytes_per_second_paces_each_range(emu, ecr, demo):
    """Two ranged requests at once, as a parallel downloader makes them: each range gets the whole rate."""
    layer = max(demo["layers"], key=lambda entry: entry["size"])
    url = ecr.get_download_url_for_layer(repositoryName=DEMO, layerDigest=layer["digest"])["downloadUrl"]
    rate = layer["size"]  # the whole layer in 1 s, each half in 0.5 s
    emu.faults(operation="GetObject", bytes_per_second=rate)
    middle = layer["size"] // 2
    spans = [(0, middle - 1), (middle, layer["size"] - 1)]

    def one(span):
        started = time.monotonic()
        status, headers, data = fetch(url, {"Range": f"bytes={span[0]}-{span[1]}"})
        assert status == 206 and headers["Content-Range"] == f"bytes {span[0]}-{span[1]}/{layer['size']}"
        return data, time.monotonic() - started

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(one, spans))
    assert sha256(b"".join(data for data, _elapsed in results)) == layer["digest"]
    for (first, last), (_data, elapsed) in zip(spans, results, strict=True):
        # Paced as its own connection: the range's bytes at the rate, not the whole blob's, nor half the rate.
        assert 0.45 <= elapsed < 0.95, f"bytes {first}-{last} at {rate} B/s took {elapsed:.2f} s"
    ranges = sorted(entry["params"].get("range") for entry in emu.requests() if entry["operation"] == "GetObject")
    assert ranges == sorted(f"bytes={first}-{last}" for first, last in spans)


def test_ecr_fault_rules_by_digest_and_tampered_manifests(emu, ecr, demo):
    first, second = demo["layers"][0]["digest"], demo["layers"][1]["digest"]
    emu.faults(operation="GetDownloadUrlForLayer", count=1, code="ThrottlingException", digest=first)
    assert ecr.get_download_url_for_layer(repositoryName=DEMO, layerDigest=second)["layerDigest"] == second
    with pytest.raises(ClientError) as exc:
        ecr.get_download_url_for_layer(repositoryName=DEMO, layerDigest=first)
    assert error_code(exc) == "ThrottlingException"
    assert ecr.get_download_url_for_layer(repositoryName=DEMO, layerDigest=first)["layerDigest"] == first

    by_tag = [{"imageTag": images.DEMO_TAG}]
    intact = ecr.batch_get_image(repositoryName=DEMO, imageIds=by_tag)["images"][0]["imageManifest"]
    assert sha256(intact.encode("utf-8")) == demo["image_digest"]
    emu.faults(operation="BatchGetImage", count=1, corrupt=True)
    got = ecr.batch_get_image(repositoryName=DEMO, imageIds=by_tag)["images"][0]
    assert got["imageId"]["imageDigest"] == demo["image_digest"] != sha256(got["imageManifest"].encode("utf-8"))
    assert json.loads(got["imageManifest"]) == json.loads(intact) and len(got["imageManifest"]) == len(intact) + 1
    assert ecr.batch_get_image(repositoryName=DEMO, imageIds=by_tag)["images"][0]["imageManifest"] == intact

    emu.faults(operation="BatchGetImage", count=None, corrupt=True, digest=demo["image_digest"])
    assert ecr.batch_get_image(repositoryName=DEMO, imageIds=by_tag)["images"][0]["imageManifest"] == intact
    tampered = ecr.batch_get_image(repositoryName=DEMO, imageIds=[{"imageDigest": demo["image_digest"]}])["images"][0][
        "imageManifest"
    ]
    assert tampered != intact and json.loads(tampered) == json.loads(intact)
    for rule in (
        {"operation": "BatchGetImage", "truncate": 10},
        {"operation": "DescribeImages", "code": "X", "digest": first},
    ):
        status, body = harness.http_json(f"{emu.endpoint_url}/_emulator/faults", "POST", rule)
        assert status == 400 and body["error"], rule


def test_invalid_fault_rules_are_rejected(emu):
    for rule in (
        {},
        {"operation": "GetDownloadUrlForLayer"},
        {"operation": "PutImage", "corrupt": True},
        {"operation": "*", "code": "X", "count": 0},
    ):
        status, body = harness.http_json(f"{emu.endpoint_url}/_emulator/faults", "POST", rule)
        assert status == 400 and body["error"], rule
    assert not emu.faults()


# ---------------------------------------------------------------------- request log


def test_request_log_records_requests(emu, ecr, demo):
    digest = demo["config"]["digest"]
    url = ecr.get_download_url_for_layer(registryId=ACCOUNT, repositoryName=DEMO, layerDigest=digest)["downloadUrl"]
    fetch(url)
    with pytest.raises(ClientError):
        ecr.get_download_url_for_layer(repositoryName="absent", layerDigest=digest)
    emu.health()
    log = emu.requests()
    assert [(entry["service"], entry["operation"], entry["status"], entry["error_code"]) for entry in log] == [
        ("ecr", "GetDownloadUrlForLayer", 200, None),
        ("s3", "GetObject", 200, None),
        ("ecr", "GetDownloadUrlForLayer", 400, "RepositoryNotFoundException"),
    ]
    assert log[0]["params"] == {"registryId": ACCOUNT, "repositoryName": DEMO, "layerDigest": digest}
    assert log[0]["access_key"] == harness.FULL_ACCESS["aws_access_key_id"]
    assert log[1]["params"] == {"bucket": BUCKET, "key": f"{DEMO}/{digest}"}
    assert log[1]["access_key"] == "AKIAEMULATORINTERNAL"
    assert log[0]["seq"] < log[1]["seq"] < log[2]["seq"]
    assert all(abs(entry["time"] - time.time()) < 60 for entry in log)
    assert len(emu.requests(clear=True)) == 3
    assert not emu.requests()


# ---------------------------------------------------------------------- --auth


AUTH_CASES = [
    ("full access", harness.FULL_ACCESS, None),
    ("session", harness.SESSION, None),
    (
        "unknown key",
        {"aws_access_key_id": "AKIAUNKNOWN000000000", "aws_secret_access_key": "x"},
        "UnrecognizedClientException",
    ),
    (
        "wrong secret",
        {"aws_access_key_id": "AKIAEMULATOR00000001", "aws_secret_access_key": "not-the-secret"},
        "InvalidSignatureException",
    ),
    (
        "session without token",
        {key: value for key, value in harness.SESSION.items() if key != "aws_session_token"},
        "UnrecognizedClientException",
    ),
    ("expired", harness.EXPIRED, "ExpiredTokenException"),
    ("denied", harness.DENIED, "AccessDeniedException"),
]


@pytest.mark.parametrize("name, credentials, code", AUTH_CASES, ids=[case[0] for case in AUTH_CASES])
def test_auth_with_boto3(auth_emulator, name, credentials, code):
    client = auth_emulator.client("ecr", config=NO_RETRY, **credentials)
    digest = auth_emulator.pushed["layers"][0]["digest"]
    if code is None:
        url = client.get_download_url_for_layer(repositoryName="auth/test", layerDigest=digest)["downloadUrl"]
        assert sha256(fetch(url)[2]) == digest
        assert client.describe_repositories()["repositories"][0]["repositoryName"] == "auth/test"
        return
    with pytest.raises(ClientError) as exc:
        client.get_download_url_for_layer(repositoryName="auth/test", layerDigest=digest)
    assert error_code(exc) == code, name
    message = exc.value.response["Error"]["Message"]
    if code == "AccessDeniedException":
        assert message == (
            "User: arn:aws:iam::123456789012:user/emulator-denied is not authorized to perform: "
            "ecr:GetDownloadUrlForLayer on resource: "
            "arn:aws:ecr:us-east-1:123456789012:repository/auth/test because no identity-based policy allows the "
            "ecr:GetDownloadUrlForLayer action"
        )
    elif code == "ExpiredTokenException":
        assert message == "The security token included in the request is expired"
    elif code == "UnrecognizedClientException":
        assert message == "The security token included in the request is invalid."
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    elif code == "InvalidSignatureException":
        assert message.startswith("The request signature we calculated does not match the signature you provided.")
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    entry = auth_emulator.requests(clear=True)[-1]
    assert (entry["operation"], entry["error_code"], entry["access_key"]) == (
        "GetDownloadUrlForLayer",
        code,
        credentials["aws_access_key_id"],
    )


def test_auth_missing_signature(auth_emulator):
    client = auth_emulator.client("ecr", config=NO_RETRY.merge(Config(signature_version=UNSIGNED)))
    with pytest.raises(ClientError) as exc:
        client.describe_repositories()
    assert error_code(exc) == "MissingAuthenticationTokenException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_auth_tampered_body_is_refused(auth_emulator):
    client = auth_emulator.client("ecr", config=NO_RETRY)

    def tamper(request, **_kwargs):
        request.body = request.body.replace(b"auth/test", b"auth/tEst")

    client.meta.events.register_last("before-send.ecr.DescribeRepositories", tamper)
    with pytest.raises(ClientError) as exc:
        client.describe_repositories(repositoryNames=["auth/test"])
    assert error_code(exc) == "InvalidSignatureException"


@pytest.mark.parametrize("name, credentials, code", AUTH_CASES, ids=[case[0] for case in AUTH_CASES])
def test_auth_with_aws_cli(auth_emulator, aws_cli, name, credentials, code):
    digest = auth_emulator.pushed["config"]["digest"]
    result = aws_cli(
        auth_emulator,
        "ecr",
        "get-download-url-for-layer",
        "--repository-name",
        "auth/test",
        "--layer-digest",
        digest,
        credentials=credentials,
    )
    if code is None:
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["layerDigest"] == digest
    else:
        assert result.returncode != 0, name
        assert f"({code})" in result.stderr, result.stderr
