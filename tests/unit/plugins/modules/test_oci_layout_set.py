# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""oci_layout's ``images`` option (a set of images in one run) through the module's real entry point."""

import json
import os

import pytest

from ansible_collections.airgap.ecr.plugins.module_utils import layout as oci
from ansible_collections.airgap.ecr.plugins.module_utils.layout import Layout
from ansible_collections.airgap.ecr.plugins.modules.oci_layout import main
from ansible_collections.airgap.ecr.tests.support.blob_server import BlobServer
from ansible_collections.airgap.ecr.tests.support.digests import digest_of as sha
from ansible_collections.airgap.ecr.tests.support.modules import run_module

DOCKER_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
OCI_TYPE = "application/vnd.oci.image.manifest.v1+json"
BASE = b"\x1f\x8b base layer, shared"
APP = b"\x1f\x8b app layer"
WORKER = b"\x1f\x8b worker layer"
APP_CONFIG = b'{"architecture": "amd64", "os": "linux", "rootfs": {"diff_ids": ["a", "b"]}}'
WORKER_CONFIG = b'{"architecture": "amd64", "os": "linux", "rootfs": {"diff_ids": ["a", "c"]}}'
HOST = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def manifest(media_type, config, layers):
    if media_type == DOCKER_TYPE:
        config_type = "application/vnd.docker.container.image.v1+json"
        layer_type = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    else:
        config_type = "application/vnd.oci.image.config.v1+json"
        layer_type = "application/vnd.oci.image.layer.v1.tar+gzip"
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {"mediaType": config_type, "size": len(config), "digest": sha(config)},
            "layers": [{"mediaType": layer_type, "size": len(data), "digest": sha(data)} for data in layers],
        },
        separators=(",", ":"),  # not json.dumps' default form: the bytes must be kept, not re-serialised
    )


APP_MANIFEST = manifest(DOCKER_TYPE, APP_CONFIG, [BASE, APP])
WORKER_MANIFEST = manifest(OCI_TYPE, WORKER_CONFIG, [BASE, WORKER])
ALL_BLOBS = (APP_CONFIG, WORKER_CONFIG, BASE, APP, WORKER)


def images(**overrides):
    """The set: a Docker schema 2 image and an OCI image that share the base layer."""
    app = dict(
        manifest=APP_MANIFEST,
        media_type=DOCKER_TYPE,
        source_digest=sha(APP_MANIFEST.encode()),
        name=f"{HOST}/team/app:1.0",
        platform="linux/amd64",
    )
    worker = dict(manifest=WORKER_MANIFEST, source_digest=sha(WORKER_MANIFEST.encode()), name=f"{HOST}/team/worker:2.0")
    worker.update(overrides)
    return [app, worker]


def run(check_mode=False, **args):
    args.setdefault("allow_http", True)  # the test server is http://
    return run_module(main, check_mode, **args)


def read(path):
    with open(path, "rb") as handle:
        return handle.read()


def index_of(dest):
    return json.loads(read(os.path.join(dest, "index.json")))


def files_of(root):
    return sorted(os.path.relpath(os.path.join(d, name), root) for d, _dirs, names in os.walk(root) for name in names)


@pytest.fixture(name="server")
def server_fixture():
    """The blob server with every blob of the set; yields (log, blobs option for the distinct blobs)."""
    with BlobServer() as server:
        listed = []
        for data in ALL_BLOBS:
            server.add(sha(data)[7:], data)
            url = server.url(sha(data)[7:], "X-Amz-Signature=s")
            listed.append({"digest": sha(data), "size": len(data), "url": url})
        yield server.log, listed


def test_one_run_writes_every_image_with_shared_blobs_fetched_once(server, tmp_path):
    log, blobs = server
    dest = str(tmp_path / "layout")
    failed, result = run(dest=dest, blobs=blobs, images=images())
    assert not failed and result["changed"], result
    assert (result["download"]["total"], result["download"]["fetched"]) == (5, 5)
    assert sorted(entry["name"] for entry in log) == sorted(sha(data)[7:] for data in ALL_BLOBS)  # the base once
    app, worker = result["images"]
    assert (app["ref_name"], app["converted"], app["changed"]) == ("1.0", True, True)
    assert (worker["ref_name"], worker["converted"], worker["changed"]) == ("2.0", False, True)
    assert worker["manifest_digest"] == worker["source_digest"] == sha(WORKER_MANIFEST.encode())
    layout = Layout(dest)
    # ECR's exact bytes are kept under ECR's digest, and the Docker image's OCI conversion next to them.
    assert read(layout.blob_path(app["source_digest"])) == APP_MANIFEST.encode()
    assert read(layout.blob_path(worker["source_digest"])) == WORKER_MANIFEST.encode()
    assert json.loads(read(layout.blob_path(app["manifest_digest"])))["mediaType"] == OCI_TYPE
    assert len(files_of(dest)) == 5 + 3 + 2  # the blobs, three manifests, oci-layout and index.json
    entries = index_of(dest)["manifests"]
    assert [entry["digest"] for entry in entries] == [app["manifest_digest"], worker["manifest_digest"]]
    assert entries[0]["annotations"] == {
        oci.REF_NAME: "1.0",
        oci.FULL_NAME: f"{HOST}/team/app:1.0",
        oci.SOURCE_DIGEST: app["source_digest"],
        oci.SOURCE_MEDIA_TYPE: DOCKER_TYPE,
    }
    assert entries[0]["platform"] == {"os": "linux", "architecture": "amd64"} and "platform" not in entries[1]
    assert entries[1]["annotations"][oci.SOURCE_DIGEST] == worker["source_digest"]
    assert entries[1]["annotations"][oci.SOURCE_MEDIA_TYPE] == OCI_TYPE
    assert "X-Amz" not in json.dumps(result)


def test_second_run_changes_nothing_and_fetches_nothing(server, tmp_path):
    log, blobs = server
    dest = str(tmp_path / "layout")
    assert not run(dest=dest, blobs=blobs, images=images(), archive=str(tmp_path / "set.tar"))[0]
    before = {name: os.stat(os.path.join(dest, name)).st_mtime_ns for name in files_of(dest)}
    requests = len(log)
    failed, again = run(dest=dest, blobs=blobs, images=images(), archive=str(tmp_path / "set.tar"))
    assert not failed and not again["changed"] and again["files"] == [], again
    assert [image["changed"] for image in again["images"]] == [False, False]
    assert again["download"]["present"] == 5 and len(log) == requests
    assert {name: os.stat(os.path.join(dest, name)).st_mtime_ns for name in files_of(dest)} == before


def test_blobs_in_place_need_no_blobs_option_and_one_new_image_is_the_only_change(server, tmp_path):
    _log, blobs = server
    dest = str(tmp_path / "layout")
    assert not run(dest=dest, blobs=blobs, images=images()[:1])[0]
    assert not run(dest=dest, blobs=blobs, images=images())[0]  # the worker joins; the app's entry is kept
    failed, result = run(dest=dest, images=images(ref_name="stable"))
    assert not failed and [image["changed"] for image in result["images"]] == [False, True]
    entries = index_of(dest)["manifests"]
    assert [entry["annotations"][oci.REF_NAME] for entry in entries] == ["1.0", "stable"]  # replaced by full name


def test_check_mode_says_what_would_be_written_and_writes_nothing(server, tmp_path):
    log, blobs = server
    dest = str(tmp_path / "layout")
    failed, result = run(check_mode=True, dest=dest, blobs=blobs, images=images())
    assert not failed and result["changed"] and log == [] and not os.path.exists(dest)
    assert [blob["status"] for blob in result["download"]["blobs"]] == ["would_fetch"] * 5
    assert sorted(result["missing"]) == sorted(sha(data) for data in ALL_BLOBS)
    assert [image["changed"] for image in result["images"]] == [True, True]
    assert result["files"][-2:] == [os.path.join(dest, "oci-layout"), os.path.join(dest, "index.json")]
    assert len(result["files"]) == 5  # three manifests, oci-layout, index.json
    assert not run(dest=dest, blobs=blobs, images=images())[0]
    failed, result = run(check_mode=True, dest=dest, blobs=blobs, images=images())
    assert not failed and not result["changed"] and result["files"] == [] and result["missing"] == []


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"name": f"{HOST}/team/other:1.0"}, "images[0] (" + HOST + "/team/app:1.0) and images[1] ("),
        ({"ref_name": "1.0"}, "both have the ref_name '1.0': give one of them a ref_name"),
        ({"name": f"{HOST}/team/app:1.0", "ref_name": "x"}, "both have the name"),
        ({"source_digest": sha(b"other")}, "images[1].manifest has the digest"),
        ({"name": "team/worker:2.0"}, "images[1].name: image name 'team/worker:2.0' is not a full image reference"),
        ({"name": f"{HOST}/team/worker@{sha(b'x')}"}, "has no tag: give images[1].ref_name"),
        ({"ref_name": "bad name"}, "images[1].ref_name 'bad name' is not a valid tag"),
        ({"platform": "linux"}, "images[1].platform: platform 'linux' is not of the form"),
        ({"manifest": "{"}, "images[1].manifest cannot be used: the manifest is not valid JSON"),
        ({"manifest": json.dumps({"mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []})}, "index"),
        ({"manifest": None, "source_digest": None}, "images[1].manifest is required"),
        ({"tags": "2.0"}, "tags"),
    ],
)
def test_bad_images_fail_before_any_download(server, tmp_path, overrides, expected):
    log, blobs = server
    dest = str(tmp_path / "layout")
    if "manifest" in overrides and overrides["manifest"] and "source_digest" not in overrides:
        overrides["source_digest"] = None
    failed, result = run(dest=dest, blobs=blobs, images=images(**overrides))
    assert failed and expected in result["msg"], result["msg"]
    assert log == [] and not os.path.exists(dest)


@pytest.mark.parametrize("option", ["manifest", "ref_name", "source_digest", "media_type", "platform"])
def test_images_exclude_the_options_of_one_image(tmp_path, option):
    failed, result = run(dest=str(tmp_path / "layout"), images=images(), **{option: "1.0"})
    assert failed and "mutually exclusive" in result["msg"] and option in result["msg"]


def test_another_image_under_a_ref_name_in_use_fails_and_keeps_the_index(server, tmp_path):
    _log, blobs = server
    dest = str(tmp_path / "layout")
    assert not run(dest=dest, blobs=blobs, images=images())[0]
    before = read(os.path.join(dest, "index.json"))
    other = dict(images()[1], name=f"{HOST}/team/other:2.0")
    failed, result = run(dest=dest, images=[other])
    assert failed and f"already names the image {HOST}/team/worker:2.0 '2.0'" in result["msg"]
    assert "give it another ref_name" in result["msg"]
    assert read(os.path.join(dest, "index.json")) == before


def test_an_entry_written_without_a_name_is_replaced_by_its_ref_name(server, tmp_path):
    _log, blobs = server
    dest = str(tmp_path / "layout")
    single = dict(manifest=WORKER_MANIFEST, ref_name="2.0", blobs=blobs)
    assert not run(dest=dest, **single)[0]
    failed, _result = run(dest=dest, images=images()[1:])
    assert not failed
    entries = index_of(dest)["manifests"]
    assert [entry["annotations"].get(oci.FULL_NAME) for entry in entries] == [f"{HOST}/team/worker:2.0"]


def test_blobs_must_cover_every_image_before_any_request(server, tmp_path):
    log, blobs = server
    dest = str(tmp_path / "layout")
    failed, result = run(dest=dest, blobs=[blob for blob in blobs if blob["digest"] != sha(WORKER)], images=images())
    assert failed and result["missing"] == [sha(WORKER)] and log == [] and not os.path.exists(dest)
