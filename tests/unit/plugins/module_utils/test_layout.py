# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import json
import os
import tarfile

import pytest

from ansible_collections.airgap.ecr.plugins.module_utils import layout as oci
from ansible_collections.airgap.ecr.plugins.module_utils import manifest as m
from ansible_collections.airgap.ecr.plugins.module_utils.layout import Layout
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import ManifestError
from ansible_collections.airgap.ecr.tests.support.digests import digest_of as sha

CONFIG = b'{"architecture": "amd64", "os": "linux"}'
LAYER = b"layer bytes"
DOCKER = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": m.DOCKER_MANIFEST,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": len(CONFIG),
            "digest": sha(CONFIG),
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": len(LAYER),
                "digest": sha(LAYER),
            },
            {
                "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                "size": 5,
                "digest": sha(b"far"),
                "urls": ["https://example.invalid/l"],
            },
        ],
    },
    indent=3,
)


def test_docker_manifest_is_converted_deterministically_with_the_same_blobs():
    text, media_type = m.to_oci_manifest(DOCKER)
    assert media_type == m.OCI_MANIFEST
    assert m.to_oci_manifest(DOCKER)[0] == text
    document = json.loads(text)
    assert document["mediaType"] == m.OCI_MANIFEST
    assert document["config"] == {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        "digest": sha(CONFIG),
        "size": len(CONFIG),
    }
    assert [layer["digest"] for layer in document["layers"]] == [sha(LAYER), sha(b"far")]
    assert document["layers"][0]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert document["layers"][1]["mediaType"] == "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    assert document["layers"][1]["urls"] == ["https://example.invalid/l"]


def test_oci_manifest_is_kept_byte_for_byte():
    text = m.to_oci_manifest(DOCKER)[0]
    odd_but_valid = text.replace("\n", "\r\n") + "  "
    assert m.to_oci_manifest(odd_but_valid) == (odd_but_valid, m.OCI_MANIFEST)


def test_indexes_and_unknown_types_are_refused():
    index = json.dumps({"schemaVersion": 2, "mediaType": m.OCI_INDEX, "manifests": []})
    with pytest.raises(ManifestError, match="not an index"):
        m.to_oci_manifest(index)
    odd = DOCKER.replace("application/vnd.docker.image.rootfs.diff.tar.gzip", "application/x-odd")
    with pytest.raises(ManifestError, match="no OCI equivalent"):
        m.to_oci_manifest(odd)


def test_index_entry_records_the_source_only_when_converted():
    text, media_type = m.to_oci_manifest(DOCKER)
    entry = oci.index_entry(
        text, media_type, "1.0", {"os": "linux", "architecture": "amd64"}, sha(DOCKER.encode()), m.DOCKER_MANIFEST
    )
    assert entry["digest"] == sha(text.encode()) and entry["size"] == len(text.encode())
    assert entry["annotations"] == {
        oci.REF_NAME: "1.0",
        oci.SOURCE_DIGEST: sha(DOCKER.encode()),
        oci.SOURCE_MEDIA_TYPE: m.DOCKER_MANIFEST,
    }
    same = oci.index_entry(text, media_type, "1.0", None, sha(text.encode()), m.OCI_MANIFEST)
    assert same["annotations"] == {oci.REF_NAME: "1.0"} and "platform" not in same


def test_merged_index_replaces_the_same_name_and_keeps_others():
    first = oci.index_entry("a", m.OCI_MANIFEST, "1.0")
    other = oci.index_entry("b", m.OCI_MANIFEST, "2.0")
    again = oci.index_entry("c", m.OCI_MANIFEST, "1.0")
    text = oci.merged_index(oci.merged_index(oci.merged_index(None, first), other), again)
    document = json.loads(text)
    # In place of the entry it replaces: a rerun of the first image leaves the order, and so the text, as it was.
    assert [e["annotations"][oci.REF_NAME] for e in document["manifests"]] == ["1.0", "2.0"]
    assert document["manifests"][0]["digest"] == sha(b"c")
    assert oci.merged_index(text, again) == text and oci.merged_index(text, other) == text
    for broken in ("not json", "[]", '{"manifests": {}}'):
        with pytest.raises(oci.LayoutError, match="/l/index.json is not"):
            oci.merged_index(broken, first, "/l/index.json")


def make_layout(root):
    for data in (CONFIG, LAYER):
        path = Layout(root).blob_path(sha(data))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)
    with open(os.path.join(root, "blobs", "sha256", ".partial-ignored"), "w", encoding="utf-8") as handle:
        handle.write("x")
    for name, content in ((oci.OCI_LAYOUT_FILE, oci.OCI_LAYOUT_CONTENT), (oci.INDEX_FILE, "{}")):
        with open(os.path.join(root, name), "w", encoding="utf-8") as handle:
            handle.write(content)


def test_archive_is_reproducible_and_detects_changes(tmp_path):
    root = str(tmp_path / "layout")
    make_layout(root)
    archive = str(tmp_path / "image.tar")
    assert not Layout(root).archive_matches(archive)
    Layout(root).write_archive(archive)
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        assert all(info.mtime == 0 and info.uid == 0 for info in tar.getmembers())
    assert names[:2] == ["oci-layout", "index.json"]
    assert f"blobs/sha256/{sha(LAYER)[7:]}" in names and not any(".partial" in n for n in names)
    first = open(archive, "rb").read()
    Layout(root).write_archive(archive)
    assert open(archive, "rb").read() == first
    assert Layout(root).archive_matches(archive)
    with open(os.path.join(root, oci.INDEX_FILE), "w", encoding="utf-8") as handle:
        handle.write('{"changed": true}')
    assert not Layout(root).archive_matches(archive)
    assert not os.path.exists(str(tmp_path / ".image.tar.partial"))
