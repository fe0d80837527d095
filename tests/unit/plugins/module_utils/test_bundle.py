# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Bundles without a network: the format, planning, packing, parts, joining and verification."""

import json
import os

import pytest

from ansible_collections.airgap.ecr.plugins.module_utils import bundle_format as fmt
from ansible_collections.airgap.ecr.plugins.module_utils import bundle_pack
from ansible_collections.airgap.ecr.plugins.module_utils import bundle_parts
from ansible_collections.airgap.ecr.plugins.module_utils import bundle_read
from ansible_collections.airgap.ecr.plugins.module_utils.bundle_format import BundleError
from ansible_collections.airgap.ecr.plugins.module_utils.layout import Layout
from ansible_collections.airgap.ecr.tests.emulator import images as fake

CREATED = "2026-12-01T00:00:00Z"


def image(repository, tag, layers, media_type="docker"):
    """An ecr_image_layers ``images`` entry (and its blobs' bytes) for ``layers``."""
    config = fake.make_config(layers)
    text, manifest_type = fake.make_manifest(layers, config, media_type)
    manifest = json.loads(text)
    entry = {
        "name": f"registry.example/{repository}:{tag}",
        "repository": repository,
        "tag": tag,
        "digest": None,
        "registry_id": "123456789012",
        "image_digest": fake.sha256_digest(text),
        "media_type": manifest_type,
        "manifest": text.decode("utf-8"),
        "platform": None,
        "config": {"digest": manifest["config"]["digest"], "size": len(config), "media_type": "c"},
        "layers": [{"digest": d["digest"], "size": d["size"], "media_type": "l"} for d in manifest["layers"]],
    }
    return entry, [config] + list(layers)


def sample_content():
    """Two images sharing a base layer, for linux/amd64: ``(resolutions, the bytes of every blob)``."""
    base = fake.make_layer(3000, 1)
    app, app_blobs = image("team/app", "1.0", [base, fake.make_layer(5000, 2)])
    tool, tool_blobs = image("team/tool", "2.0", [base, fake.make_layer(4000, 3)], media_type="oci")
    return [{"platform": "linux/amd64", "images": [app, tool]}], app_blobs + tool_blobs


@pytest.fixture(name="content")
def content_fixture():
    return sample_content()


def make(tmp_path, name, content, since=None, part_size=None, blobs=None):
    resolutions, data = content
    planned = bundle_pack.plan(str(tmp_path / name), since)
    layout = Layout(planned["layout"], strict_modes=False)
    available = set((planned["base"] or {}).get("available", ()))
    for blob in blobs if blobs is not None else data:
        if fake.sha256_digest(blob) not in available:
            layout.write_blob(blob)
    layout.close()
    return bundle_pack.pack(str(tmp_path / name), resolutions, since, part_size, CREATED)


@pytest.mark.parametrize("value, size", [("4G", 4 << 30), ("700m", 700 << 20), ("64KiB", 64 << 10), ("2048", 2048)])
def test_part_sizes(value, size):
    assert fmt.parse_part_size(value) == size


@pytest.mark.parametrize("value", ["4X", "0", "10", "-1G", "G"])
def test_a_part_size_that_is_not_one_is_refused_naming_it(value):
    with pytest.raises(BundleError, match=f"part_size '{value}' is not a size"):
        fmt.parse_part_size(value)


def test_the_checksum_list_is_what_sha256sum_reads_and_a_damaged_line_is_refused():
    text = fmt.sums_text([("b", "f" * 64), ("a", "0" * 64)])
    assert text == f"{'0' * 64}  a\n{'f' * 64}  b\n"
    assert fmt.parse_sums(text, "S") == {"a": "0" * 64, "b": "f" * 64}
    with pytest.raises(BundleError, match="S line 1"):
        fmt.parse_sums(f"{'0' * 64}  ../etc/passwd\n", "S")


def test_plan_refuses_an_existing_destination_and_a_missing_parent(tmp_path):
    (tmp_path / "there").mkdir()
    with pytest.raises(BundleError, match="exists: a bundle is never overwritten"):
        bundle_pack.plan(str(tmp_path / "there"))
    with pytest.raises(BundleError, match="does not exist: create it first"):
        bundle_pack.plan(str(tmp_path / "nope" / "b"))
    os.symlink(str(tmp_path / "there"), str(tmp_path / ".b.partial"))
    with pytest.raises(BundleError, match="not a directory of this user"):
        bundle_pack.plan(str(tmp_path / "b"))


def test_a_bundle_holds_every_image_shared_blobs_once_and_verifies(tmp_path, content):
    document = make(tmp_path, "b1", content)
    assert not os.path.exists(tmp_path / ".b1.partial")
    assert len(document["blobs"]) == 5 and all(blob["in_bundle"] for blob in document["blobs"])
    verified = bundle_read.verify(str(tmp_path / "b1"))
    assert verified["id"] == document["id"] and verified["layout"] == str(tmp_path / "b1" / "layout")
    assert [i["manifest"] for i in verified["images"]] == [i["manifest"] for i in content[0][0]["images"]]
    index = json.loads((tmp_path / "b1" / "layout" / "index.json").read_text())
    assert [entry["annotations"]["org.opencontainers.image.ref.name"] for entry in index["manifests"]] == ["1.0", "2.0"]
    assert index["manifests"][0]["platform"] == {"os": "linux", "architecture": "amd64"}
    summary = (tmp_path / "b1" / "SUMMARY.txt").read_text()
    assert "extends: nothing" in summary and "blobs: 5 in this bundle" in summary


def test_an_image_is_kept_for_the_platform_asked_for_with_the_one_its_index_names(tmp_path, content):
    """A host of linux/arm64 takes every image resolved for linux/arm64, also one whose index says linux/arm64/v8."""
    resolutions, data = content
    app, tool = resolutions[0]["images"]
    arm = [{"platform": "linux/arm64", "images": [app, dict(tool, platform="linux/arm64/v8")]}]
    document = make(tmp_path, "b1", (resolutions + arm, data))
    assert [(i["bundle_platform"], i["platform"]) for i in document["images"]] == [
        ("linux/amd64", "linux/amd64"),
        ("linux/amd64", "linux/amd64"),
        ("linux/arm64", "linux/arm64"),
        ("linux/arm64", "linux/arm64/v8"),
    ]
    assert document["platforms"] == ["linux/amd64", "linux/arm64"]
    verified = bundle_read.verify(str(tmp_path / "b1"))
    assert [i["bundle_platform"] for i in verified["images"]] == [i["bundle_platform"] for i in document["images"]]
    # A description written before images had bundle_platform: the platform it names was the one asked for.
    older = json.loads(fmt.dumps(document))
    for entry in older["images"]:
        del entry["bundle_platform"]
    assert [i["bundle_platform"] for i in fmt.loads(json.dumps(older), "B")["images"]] == [
        "linux/amd64",
        "linux/amd64",
        "linux/arm64",
        "linux/arm64/v8",
    ]


def test_pack_refuses_a_blob_that_is_not_in_place(tmp_path, content):
    with pytest.raises(BundleError, match="is missing or does not have the digest"):
        make(tmp_path, "b1", content, blobs=content[1][:-1])
    assert not os.path.exists(tmp_path / "b1")


def test_a_delta_holds_only_what_its_base_lacks_and_names_it(tmp_path, content):
    base = make(tmp_path, "b1", content)
    resolutions, data = content
    app, app_blobs = image("team/app", "1.1", [data[1], fake.make_layer(5000, 9)])
    changed = ([{"platform": "linux/amd64", "images": [app, resolutions[0]["images"][1]]}], app_blobs + data)
    delta = make(tmp_path, "b2", changed, since=str(tmp_path / "b1"))
    inside = sorted(blob["digest"] for blob in delta["blobs"] if blob["in_bundle"])
    assert inside == sorted([app["config"]["digest"], app["layers"][1]["digest"]])
    assert delta["base"] == {"id": base["id"], "name": "b1", "created": CREATED}
    assert set(base["available"]) < set(delta["available"])
    assert f"extends: {base['id']} (b1" in (tmp_path / "b2" / "SUMMARY.txt").read_text()


def test_parts_are_cut_joined_and_verified(tmp_path, content):
    document = make(tmp_path, "b1", content, part_size=4096)
    files = document["parts"]["files"]
    assert len(files) > 3 and all(part["size"] <= 4096 for part in files)
    assert not os.path.exists(tmp_path / "b1" / "layout")
    verified = bundle_read.verify(str(tmp_path / "b1"), str(tmp_path / "work"))
    layout = Layout(verified["layout"], strict_modes=False)
    assert all(layout.has_blob(blob["digest"], blob["size"]) for blob in document["blobs"])
    assert bundle_read.verify(str(tmp_path / "b1"), str(tmp_path / "work"))["layout"] == verified["layout"]


@pytest.mark.parametrize("damage", ["remove", "corrupt", "truncate"])
def test_a_missing_or_corrupt_part_is_refused_naming_it_before_joining(tmp_path, content, damage):
    document = make(tmp_path, "b1", content, part_size=4096)
    name = document["parts"]["files"][2]["name"]
    path = tmp_path / "b1" / name
    if damage == "remove":
        path.unlink()
    else:
        data = path.read_bytes()
        path.write_bytes(data[:-1] if damage == "truncate" else data[:10] + bytes([data[10] ^ 1]) + data[11:])
    expected = "is missing" if damage == "remove" else "is corrupt"
    with pytest.raises(BundleError, match=f"{name} {expected}"):
        bundle_read.verify(str(tmp_path / "b1"), str(tmp_path / "work"))
    assert not os.path.exists(tmp_path / "work")


def test_a_corrupt_blob_of_an_unsplit_bundle_is_named(tmp_path, content):
    document = make(tmp_path, "b1", content)
    digest = document["blobs"][1]["digest"]
    path = tmp_path / "b1" / "layout" / "blobs" / "sha256" / digest.split(":")[1]
    path.write_bytes(b"x" + path.read_bytes()[1:])
    with pytest.raises(BundleError, match=f"layout/blobs/sha256/{digest.split(':')[1]} is corrupt"):
        bundle_read.verify(str(tmp_path / "b1"))


def test_a_description_that_does_not_match_its_checksum_is_refused(tmp_path, content):
    make(tmp_path, "b1", content)
    path = tmp_path / "b1" / "bundle.json"
    path.write_text(path.read_text().replace('"version": 1', '"version": 1 '))
    with pytest.raises(BundleError, match="bundle.json does not match its checksum"):
        bundle_read.verify(str(tmp_path / "b1"))


def test_join_refuses_a_blob_whose_bytes_are_not_its_digest_and_keeps_nothing_of_it(tmp_path, content):
    document = make(tmp_path, "b1", content)
    digest = document["blobs"][2]["digest"]
    root = tmp_path / "b1"
    blob = root / "layout" / "blobs" / "sha256" / digest.split(":")[1]
    blob.write_bytes(b"y" + blob.read_bytes()[1:])  # the tar carries it under its name, with other bytes
    parts = bundle_parts.split(str(root), 1 << 20)
    layout = Layout(str(tmp_path / "joined"), strict_modes=False)
    with pytest.raises(BundleError, match=f"the blob {digest} in the bundle's parts does not have that digest"):
        bundle_parts.join([str(root / part["name"]) for part in parts["files"]], layout, document)
    assert layout.blob_kind(digest) == "missing" and layout.partial_size(digest) is None
    assert layout.read_text("index.json") is None


def test_what_an_earlier_attempt_left_in_the_staging_directory_is_not_packed(tmp_path, content):
    planned = bundle_pack.plan(str(tmp_path / "b1"))
    layout = Layout(planned["layout"], strict_modes=False)
    stale = layout.write_blob(b"a blob of another attempt")
    with layout.open_partial(fake.sha256_digest(b"cut short"), append=False) as out:
        out.write(b"cut")
    layout.close()
    document = make(tmp_path, "b1", content, part_size=4096)
    assert stale not in {blob["digest"] for blob in document["blobs"]}
    verified = bundle_read.verify(str(tmp_path / "b1"), str(tmp_path / "work"))
    assert not os.path.exists(os.path.join(verified["layout"], "blobs", *stale.split(":")))
