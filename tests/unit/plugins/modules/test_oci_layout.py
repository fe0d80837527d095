# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""oci_layout through its real entry point, on a layout in a temporary directory."""

import hashlib
import json
import os

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.airgap.ecr.plugins.module_utils import oci
from ansible_collections.airgap.ecr.plugins.module_utils.blobs import blob_path
from ansible_collections.airgap.ecr.plugins.modules.oci_layout import main

CONFIG = b'{"architecture": "arm64", "os": "linux", "variant": "v8"}'
LAYER = b"\x1f\x8b layer"


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


DOCKER = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": len(CONFIG), "digest": sha(CONFIG)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": len(LAYER), "digest": sha(LAYER)}],
    }
)


def run(capsys, check_mode=False, **args):
    with patch_module_args(dict(args, _ansible_check_mode=check_mode)):
        with pytest.raises(SystemExit) as exit_info:
            main()
    return exit_info.value.code != 0, json.loads(capsys.readouterr().out)


def tree(root):
    found = {}
    for directory, dummy, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            with open(path, "rb") as handle:
                found[os.path.relpath(path, root)] = hashlib.sha256(handle.read()).hexdigest()
    return found


@pytest.fixture(name="layout")
def layout_fixture(tmp_path):
    root = tmp_path / "layout"
    for data in (CONFIG, LAYER):
        path = blob_path(str(root), sha(data))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data)
    return str(root)


def test_writes_a_complete_layout_then_changes_nothing(capsys, layout, tmp_path):
    archive = str(tmp_path / "image.tar")
    args = dict(dest=layout, manifest=DOCKER, ref_name="1.0", platform="linux/arm64/v8", source_digest=sha(DOCKER.encode()), archive=archive)
    failed, result = run(capsys, **args)
    assert not failed and result["changed"] and result["converted"]
    index = json.load(open(os.path.join(layout, "index.json"), encoding="utf-8"))
    entry = index["manifests"][0]
    assert entry["digest"] == result["manifest_digest"]
    assert entry["platform"] == {"os": "linux", "architecture": "arm64", "variant": "v8"}
    assert entry["annotations"][oci.SOURCE_DIGEST] == sha(DOCKER.encode())
    with open(blob_path(layout, entry["digest"]), "rb") as handle:
        assert sha(handle.read()) == entry["digest"]
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
