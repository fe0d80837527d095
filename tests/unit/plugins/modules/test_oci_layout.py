# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""oci_layout through its real entry point, on a layout in a temporary directory."""

import hashlib
import json
import os

import pytest

from ansible_collections.airgap.ecr.plugins.module_utils import layout as oci
from ansible_collections.airgap.ecr.plugins.module_utils.layout import Layout
from ansible_collections.airgap.ecr.plugins.modules.oci_layout import main
from ansible_collections.airgap.ecr.tests.support.blob_server import BlobServer
from ansible_collections.airgap.ecr.tests.support.digests import digest_of as sha
from ansible_collections.airgap.ecr.tests.support.modules import run_module

CONFIG = b'{"architecture": "arm64", "os": "linux", "variant": "v8"}'
LAYER = b"\x1f\x8b layer"


DOCKER = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": len(CONFIG),
            "digest": sha(CONFIG),
        },
        "layers": [
            {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": len(LAYER), "digest": sha(LAYER)}
        ],
    }
)


def run(capsys, check_mode=False, **args):  # pylint: disable=unused-argument
    args.setdefault("allow_http", True)  # the test server is http://
    return run_module(main, check_mode, **args)


def tree(root):
    found = {}
    for directory, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, root)] = hashlib.sha256(handle.read()).hexdigest()
    return found


@pytest.fixture(name="layout")
def layout_fixture(tmp_path):
    root = tmp_path / "layout"
    for data in (CONFIG, LAYER):
        path = Layout(str(root)).blob_path(sha(data))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)
    return str(root)


def test_writes_a_complete_layout_then_changes_nothing(capsys, layout, tmp_path):
    archive = str(tmp_path / "image.tar")
    args = dict(
        dest=layout,
        manifest=DOCKER,
        ref_name="1.0",
        platform="linux/arm64/v8",
        source_digest=sha(DOCKER.encode()),
        archive=archive,
    )
    failed, result = run(capsys, **args)
    assert not failed and result["changed"] and result["converted"]
    index = json.load(open(os.path.join(layout, "index.json"), encoding="utf-8"))
    entry = index["manifests"][0]
    assert entry["digest"] == result["manifest_digest"]
    assert entry["platform"] == {"os": "linux", "architecture": "arm64", "variant": "v8"}
    assert entry["annotations"][oci.SOURCE_DIGEST] == sha(DOCKER.encode())
    with open(Layout(layout).blob_path(entry["digest"]), "rb") as handle:
        assert sha(handle.read()) == entry["digest"]
    # The registry's exact manifest stays too, under its registry digest (image_load and image_push read it).
    with open(Layout(layout).blob_path(sha(DOCKER.encode())), "rb") as handle:
        assert handle.read() == DOCKER.encode()
    assert json.load(open(os.path.join(layout, "oci-layout"), encoding="utf-8")) == {"imageLayoutVersion": "1.0.0"}
    assert result["files"][-1] == archive and result["files"][-2].endswith("index.json")
    before = tree(layout), os.path.getmtime(archive)
    failed, result = run(capsys, **args)
    assert not failed and not result["changed"] and result["files"] == []
    assert (tree(layout), os.path.getmtime(archive)) == before


def test_check_mode_writes_nothing_even_without_blobs(capsys, tmp_path):
    empty = str(tmp_path / "nothing-yet")
    failed, result = run(capsys, check_mode=True, dest=empty, manifest=DOCKER, ref_name="1.0")
    assert not failed and result["changed"]
    assert sorted(result["missing"]) == sorted([sha(CONFIG), sha(LAYER)])
    assert not os.path.exists(empty)


def test_missing_blobs_fail_without_writing(capsys, tmp_path):
    root = str(tmp_path / "partial")
    failed, result = run(capsys, dest=root, manifest=DOCKER, ref_name="1.0")
    assert failed and "fetch them first" in result["msg"] and sha(LAYER) in result["msg"]
    assert not os.path.exists(os.path.join(root, "index.json"))


@pytest.mark.parametrize(
    "args, expected",
    [
        ({"ref_name": "bad name"}, "ref_name 'bad name' is not a valid tag"),
        ({"ref_name": "1.0", "platform": "linux"}, "platform 'linux' is not of the form"),
        ({"ref_name": "1.0", "manifest": "{"}, "not valid JSON"),
        ({"ref_name": "1.0", "source_digest": "sha256:1"}, "source_digest 'sha256:1'"),
    ],
)
def test_bad_input(capsys, layout, args, expected):
    failed, result = run(capsys, **dict({"dest": layout, "manifest": DOCKER}, **args))
    assert failed and expected in result["msg"]
    assert not os.path.exists(os.path.join(layout, "index.json"))


# ------------------------------------------------------------------ with blobs: download, then lay out


@pytest.fixture(name="blob_server")
def blob_server_fixture():
    """The blob server with CONFIG and LAYER at /<hex>?X-Amz-Signature=...: its blobs, its request log, url(data)."""
    with BlobServer() as server:
        for data in (CONFIG, LAYER):
            server.add(sha(data)[7:], data)
        yield server.blobs, server.log, lambda data: server.url(sha(data)[7:], f"X-Amz-Signature=secret{len(data)}")


def test_blobs_downloaded_then_laid_out_in_one_run(capsys, blob_server, tmp_path):
    dummy, requests, url = blob_server
    dest = str(tmp_path / "layout")
    blobs = [
        {"digest": sha(CONFIG), "url": url(CONFIG)},
        {"layer_digest": sha(LAYER), "download_url": url(LAYER), "media_type": "ignored"},
    ]
    failed, result = run(capsys, dest=dest, manifest=DOCKER, ref_name="1.0", blobs=blobs)
    assert not failed and result["changed"]
    download = result["download"]
    assert (download["total"], download["done"], download["fetched"], download["present"]) == (2, 2, 2, 0)
    assert download["bytes"] == len(CONFIG) + len(LAYER)
    assert "index.json" in tree(dest) and len(requests) == 2
    for data in (CONFIG, LAYER):
        with open(Layout(dest).blob_path(sha(data)), "rb") as handle:
            assert handle.read() == data
    assert "secret" not in json.dumps(result)

    failed, again = run(capsys, dest=dest, manifest=DOCKER, ref_name="1.0", blobs=blobs)
    assert not failed and not again["changed"] and again["download"]["present"] == 2 and len(requests) == 2


def test_blob_with_wrong_content_fails_and_no_index_is_written(capsys, blob_server, tmp_path):
    served, requests, url = blob_server
    served[sha(LAYER)[7:]] = b"not the layer"
    dest = str(tmp_path / "layout")
    blobs = [{"digest": sha(CONFIG), "url": url(CONFIG)}, {"digest": sha(LAYER), "url": url(LAYER)}]
    failed, result = run(capsys, dest=dest, manifest=DOCKER, ref_name="1.0", blobs=blobs, retries=0)
    assert failed and sha(LAYER) in result["msg"] and "Could not fetch 1 of 2" in result["msg"]
    assert [b["status"] for b in result["download"]["blobs"]] == ["fetched", "failed"]
    assert result["download"]["done"] == 1 and len(requests) == 2
    assert sorted(tree(dest)) == [os.path.join("blobs", "sha256", sha(CONFIG)[7:])]


def test_blobs_must_cover_the_manifest_before_any_request(capsys, blob_server, tmp_path):
    dummy, requests, url = blob_server
    failed, result = run(
        capsys,
        dest=str(tmp_path / "layout"),
        manifest=DOCKER,
        ref_name="1.0",
        blobs=[{"digest": sha(CONFIG), "url": url(CONFIG)}],
    )
    assert (
        failed
        and "blobs does not list every blob the manifest needs" in result["msg"]
        and result["missing"] == [sha(LAYER)]
    )
    assert requests == [] and not os.path.exists(tmp_path / "layout")


def test_manifest_size_is_enforced_on_the_download(capsys, blob_server, tmp_path):
    served, dummy, url = blob_server
    served[sha(LAYER)[7:]] = LAYER + b"more"
    blobs = [{"digest": sha(CONFIG), "url": url(CONFIG)}, {"digest": sha(LAYER), "url": url(LAYER)}]
    failed, result = run(capsys, dest=str(tmp_path / "layout"), manifest=DOCKER, ref_name="1.0", blobs=blobs, retries=0)
    assert failed and f"more than the expected {len(LAYER)}" in result["msg"]


def test_check_mode_with_blobs_writes_nothing(capsys, blob_server, tmp_path):
    dummy, requests, url = blob_server
    blobs = [{"digest": sha(CONFIG), "url": url(CONFIG)}, {"digest": sha(LAYER), "url": url(LAYER)}]
    failed, result = run(
        capsys, check_mode=True, dest=str(tmp_path / "layout"), manifest=DOCKER, ref_name="1.0", blobs=blobs
    )
    assert not failed and result["changed"] and requests == []
    assert [b["status"] for b in result["download"]["blobs"]] == ["would_fetch", "would_fetch"]
    assert result["missing"] == [sha(CONFIG), sha(LAYER)] and not os.path.exists(tmp_path / "layout")


@pytest.mark.parametrize(
    "blobs, args, expected",
    [
        ([{"digest": "sha256:abc", "url": "http://127.0.0.1/x"}], {}, "blobs[0].digest"),
        ([{"digest": sha(CONFIG), "url": "ftp://127.0.0.1/x"}], {}, "is not an http:// or https:// URL"),
        ([{"digest": sha(CONFIG), "url": "http://127.0.0.1/x"}], {"concurrency": 0}, "concurrency 0 is out of range"),
        ([{"digest": sha(CONFIG), "url": "http://127.0.0.1/x"}], {"retries": 11}, "retries 11 is out of range"),
    ],
)
def test_bad_download_options_fail_before_any_request(capsys, tmp_path, blobs, args, expected):
    failed, result = run(capsys, dest=str(tmp_path / "layout"), manifest=DOCKER, ref_name="1.0", blobs=blobs, **args)
    assert failed and expected in result["msg"] and not os.path.exists(tmp_path / "layout")


def test_urls_masked_in_the_result_also_when_the_task_has_no_log(capsys, blob_server, tmp_path):
    # With no_log on the task, AnsibleModule does not log the invocation; the URLs must still be
    # kept out of the result it returns (and registers), invocation included.
    dummy, dummy_requests, url = blob_server
    blobs = [{"digest": sha(CONFIG), "url": url(CONFIG)}, {"digest": sha(LAYER), "url": url(LAYER)}]
    failed, result = run(
        capsys, dest=str(tmp_path / "layout"), manifest=DOCKER, ref_name="1.0", blobs=blobs, _ansible_no_log=True
    )
    assert not failed and result["download"]["fetched"] == 2
    assert "secret" not in json.dumps(result), result["invocation"]
