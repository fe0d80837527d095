# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import hashlib
import json

import pytest

from ansible_collections.airgap.ecr.plugins.module_utils import manifest as m
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import ManifestError


def desc(media_type, seed, size=10, **extra):
    return dict(
        {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(seed.encode()).hexdigest(), "size": size},
        **extra,
    )


def image(media_type=m.OCI_MANIFEST, layers=None, declare=True):
    document = {
        "schemaVersion": 2,
        "config": desc("application/vnd.oci.image.config.v1+json", "config", 100),
        "layers": layers if layers is not None else [desc("application/vnd.oci.image.layer.v1.tar+gzip", "l1", 1000)],
    }
    if declare:
        document["mediaType"] = media_type
    return json.dumps(document, indent=2)


def index(entries, media_type=m.OCI_INDEX):
    return json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": entries})


def entry(platform, seed, media_type=m.OCI_MANIFEST, **extra):
    return desc(media_type, seed, 500, platform=platform, **extra)


AMD64 = {"os": "linux", "architecture": "amd64"}
ARM64_V8 = {"os": "linux", "architecture": "arm64", "variant": "v8"}
ARM_V7 = {"os": "linux", "architecture": "arm", "variant": "v7"}


@pytest.mark.parametrize("media_type", [m.OCI_MANIFEST, m.DOCKER_MANIFEST])
def test_image_manifests(media_type):
    parsed = m.parse_manifest(image(media_type))
    assert parsed["kind"] == "image" and parsed["media_type"] == media_type
    assert parsed["config"]["size"] == 100
    assert parsed["layers"][0]["size"] == 1000 and parsed["layers"][0]["foreign"] is False


def test_oci_manifest_without_media_type_field_uses_the_registry_type_or_fields():
    assert m.parse_manifest(image(declare=False))["media_type"] == m.OCI_MANIFEST
    assert m.parse_manifest(image(declare=False), m.DOCKER_MANIFEST)["media_type"] == m.DOCKER_MANIFEST


def test_foreign_layers_are_marked_with_their_urls():
    layers = [
        desc("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "win", 5, urls=["https://example.com/layer"]),
        desc("application/vnd.docker.image.rootfs.diff.tar.gzip", "normal", 6),
    ]
    parsed = m.parse_manifest(image(m.DOCKER_MANIFEST, layers))
    assert parsed["layers"][0]["foreign"] is True and parsed["layers"][0]["urls"] == ["https://example.com/layer"]
    assert parsed["layers"][1]["foreign"] is False and "urls" not in parsed["layers"][1]


def test_urls_on_an_ordinary_layer_do_not_make_it_foreign():
    layers = [
        desc("application/vnd.oci.image.layer.v1.tar+gzip", "mirrored", 7, urls=["https://mirror.example.com/blob"])
    ]
    parsed = m.parse_manifest(image(m.OCI_MANIFEST, layers))
    assert parsed["layers"][0]["foreign"] is False and parsed["layers"][0]["urls"] == [
        "https://mirror.example.com/blob"
    ]


@pytest.mark.parametrize("media_type", [m.OCI_INDEX, m.DOCKER_LIST])
def test_indexes_select_the_platform(media_type):
    text = index([entry(AMD64, "a"), entry(ARM64_V8, "b"), entry(ARM_V7, "c")], media_type)
    parsed = m.parse_manifest(text)
    assert parsed["kind"] == "index" and parsed["media_type"] == media_type
    assert m.select_platform(parsed, m.parse_platform("linux/amd64"))["platform"] == AMD64
    assert m.select_platform(parsed, m.parse_platform("linux/arm64"))["platform"] == ARM64_V8
    assert m.select_platform(parsed, m.parse_platform("linux/arm64/v8"))["platform"] == ARM64_V8
    assert m.select_platform(parsed, m.parse_platform("linux/arm"))["platform"] == ARM_V7
    assert m.available_platforms(parsed) == ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]


def test_implied_variants():
    parsed = m.parse_manifest(index([entry({"os": "linux", "architecture": "arm64"}, "b")]))
    assert m.select_platform(parsed, m.parse_platform("linux/arm64/v8"))["platform"]["architecture"] == "arm64"
    with pytest.raises(ManifestError, match="no manifest for platform linux/arm64/v9"):
        m.select_platform(parsed, m.parse_platform("linux/arm64/v9"))


def test_no_match_lists_what_is_offered_and_skips_attestations():
    attestation = entry(
        {"os": "unknown", "architecture": "unknown"},
        "att",
        annotations={"vnd.docker.reference.type": "attestation-manifest"},
    )
    parsed = m.parse_manifest(index([entry(AMD64, "a"), attestation, entry(ARM64_V8, "b")]))
    with pytest.raises(ManifestError) as e:
        m.select_platform(parsed, m.parse_platform("windows/amd64"))
    assert (
        str(e.value)
        == "the image index has no manifest for platform windows/amd64; it offers linux/amd64, linux/arm64/v8"
    )


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({"schemaVersion": 1, "name": "x", "fsLayers": []}), "schema 1"),
        (json.dumps({"schemaVersion": 2, "mediaType": m.DOCKER_SCHEMA1_SIGNED}), "schema 1"),
        (
            json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.example+json"}),
            "'application/vnd.example+json' is not supported",
        ),
        (
            json.dumps({"schemaVersion": 2, "mediaType": m.OCI_MANIFEST, "config": {}, "layers": []}),
            "config has no valid digest",
        ),
        (json.dumps({"schemaVersion": 2, "mediaType": m.OCI_MANIFEST, "config": desc("c", "c")}), "no 'layers' list"),
        (json.dumps({"schemaVersion": 2, "mediaType": m.OCI_INDEX}), "no 'manifests' list"),
        (image(layers=[{"mediaType": "x", "digest": "sha256:" + "a" * 64, "size": -1}]), "layers[0]"),
    ],
)
def test_malformed_and_unsupported_manifests(text, fragment):
    with pytest.raises(ManifestError) as e:
        m.parse_manifest(text)
    assert fragment in str(e.value)


def test_digest_is_of_the_exact_bytes():
    text = image()
    expected = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
    assert m.digest_of(text) == expected
    m.verify_digest(text, expected)
    with pytest.raises(ManifestError, match="altered or corrupted"):
        m.verify_digest(text + " ", expected)
    m.verify_digest(text, "sha512:" + hashlib.sha512(text.encode()).hexdigest())


@pytest.mark.parametrize("text", ["linux", "linux/", "Linux/amd64", "linux/amd64/v8/x", "", None, "linux amd64"])
def test_bad_platforms(text):
    with pytest.raises(ManifestError, match="os/architecture"):
        m.parse_platform(text)
