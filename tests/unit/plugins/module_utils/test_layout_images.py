# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""layout_images and the image_load / image_push modules' checks before any runtime or registry is called."""

import json
import os

import pytest

from ansible_collections.airgap.ecr.plugins.module_utils.layout import Layout
from ansible_collections.airgap.ecr.plugins.module_utils.layout_images import layout_images
from ansible_collections.airgap.ecr.plugins.module_utils.layout_images import push_reference
from ansible_collections.airgap.ecr.plugins.module_utils.layout_images import tagged
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_image import ImageInputError
from ansible_collections.airgap.ecr.plugins.modules import image_load
from ansible_collections.airgap.ecr.plugins.modules import image_push
from ansible_collections.airgap.ecr.plugins.modules import oci_layout
from ansible_collections.airgap.ecr.tests.support.digests import digest_of as sha
from ansible_collections.airgap.ecr.tests.support.modules import run_module
from ansible_collections.airgap.ecr.tests.support.modules import run_module_text

CONFIG = b'{"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}'
LAYER = b"\x1f\x8b not really a layer"
HOST = "ecr.example.internal"


def manifest(kind):
    types = {
        "docker": (
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.container.image.v1+json",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        ),
        "oci": (
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.image.layer.v1.tar+gzip",
        ),
    }[kind]
    document = {
        "schemaVersion": 2,
        "mediaType": types[0],
        "config": {"mediaType": types[1], "size": len(CONFIG), "digest": sha(CONFIG)},
        "layers": [{"mediaType": types[2], "size": len(LAYER), "digest": sha(LAYER)}],
    }
    # Indented as a registry may send it: any re-serialisation would change the digest.
    return json.dumps(document, indent=3), types[0]


def put(dest, data):
    directory = os.path.join(dest, "blobs", "sha256")
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, sha(data).split(":")[1]), "wb") as handle:
        handle.write(data)


def add_image(dest, kind, ref_name, full_name=None, keep_source=True):
    """Write one image with the real oci_layout module; name it ``full_name`` in index.json."""
    put(dest, CONFIG)
    put(dest, LAYER)
    text, media_type = manifest(kind)
    failed, result = run_module(
        oci_layout.main, dest=dest, manifest=text, media_type=media_type, ref_name=ref_name, platform="linux/amd64"
    )
    assert not failed, result
    if result["converted"]:
        # oci_layout keeps the registry's exact bytes beside the converted manifest.
        source = os.path.join(dest, "blobs", "sha256", sha(text.encode()).split(":")[1])
        with open(source, "rb") as handle:
            assert handle.read() == text.encode()
        if not keep_source:
            os.remove(source)
    if full_name:
        path = os.path.join(dest, "index.json")
        with open(path, encoding="utf-8") as handle:
            index = json.load(handle)
        for entry in index["manifests"]:
            if entry["annotations"]["org.opencontainers.image.ref.name"] == ref_name:
                entry["annotations"]["io.containerd.image.name"] = full_name
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(index, handle)
    return sha(text.encode()), media_type


@pytest.fixture(name="dest")
def dest_fixture(tmp_path):
    path = tmp_path / "layout"
    path.mkdir(mode=0o755)
    return str(path)


@pytest.mark.parametrize("kind", ["docker", "oci"])
def test_reads_ecr_exact_manifest_by_full_name(dest, kind):
    digest, media_type = add_image(dest, kind, "1.0", f"{HOST}/team/app:1.0")
    [image] = layout_images(Layout(dest), [f"{HOST}/team/app:1.0"])
    assert image.digest == digest and image.media_type == media_type and sha(image.manifest) == digest
    assert image.pinned_name == f"{HOST}/team/app@{digest}"
    with image.open_blob(sha(LAYER)) as handle:
        assert handle.read() == LAYER


def test_default_is_every_named_image_and_ref_name_finds_an_unnamed_one(dest):
    add_image(dest, "oci", "one", f"{HOST}/team/one:1")
    add_image(dest, "oci", "unnamed")
    add_image(dest, "docker", "two", f"{HOST}/team/two:2")
    assert [i.name for i in layout_images(Layout(dest), None)] == [f"{HOST}/team/one:1", f"{HOST}/team/two:2"]
    [image] = layout_images(Layout(dest), [{"name": "registry.internal:5000/x/y:1", "ref_name": "unnamed"}])
    assert image.name == "registry.internal:5000/x/y:1" and image.tag == "1"


def test_bad_or_absent_images_are_named(dest):
    with pytest.raises(ImageInputError, match="index.json does not exist: dest must be an OCI layout"):
        layout_images(Layout(dest), None)
    add_image(dest, "docker", "1.0", f"{HOST}/team/app:1.0", keep_source=False)
    with pytest.raises(ImageInputError, match=f"{HOST}/team/app:1.0: the layout at {dest} lacks ECR's manifest"):
        layout_images(Layout(dest), None)
    with pytest.raises(ImageInputError, match="has no image with the full name .* 'reg.test/a/b:2'"):
        layout_images(Layout(dest), ["reg.test/a/b:2"])
    with pytest.raises(ImageInputError, match=r"images\[0\] 7 is not an image"):
        layout_images(Layout(dest), [7])
    with pytest.raises(ImageInputError, match="'app:1' is not a full image reference"):
        layout_images(Layout(dest), ["app:1"])


def test_a_damaged_or_planted_blob_is_refused(dest):
    digest, _media_type = add_image(dest, "oci", "1.0", f"{HOST}/team/app:1.0")
    layer = os.path.join(dest, "blobs", "sha256", sha(LAYER).split(":")[1])
    os.remove(layer)
    os.symlink("/etc/passwd", layer)
    with pytest.raises(ImageInputError, match="lacks, or has a wrong size of, the blob"):
        layout_images(Layout(dest), None)
    with open(os.path.join(dest, "blobs", "sha256", digest.split(":")[1]), "ab") as handle:
        handle.write(b" ")
    with pytest.raises(ImageInputError, match="does not have its digest"):
        layout_images(Layout(dest), None)


def test_digest_only_names_get_a_tag_in_podman_and_docker_and_push_by_digest(dest):
    digest, _media_type = add_image(dest, "oci", "1.0")
    pinned = f"{HOST}/team/app@{digest}"
    [image] = layout_images(Layout(dest), [{"name": pinned, "ref_name": "1.0"}])
    assert tagged(image).name == f"{HOST}/team/app:sha256-{digest.split(':')[1]}"
    assert tagged(image).pinned_name == pinned and push_reference(image) == ("team/app", digest)
    named = layout_images(Layout(dest), [{"name": f"{HOST}/team/app:1.0", "ref_name": "1.0"}])[0]
    assert tagged(named) is named and push_reference(named) == ("team/app", "1.0")


def test_image_load_checks_options_before_any_runtime(dest):
    add_image(dest, "oci", "1.0", f"{HOST}/team/app:1.0")
    failed, result = run_module(image_load.main, dest=dest, runtimes=[])
    assert failed and result["msg"] == "runtimes is empty: give one or more of containerd, podman, docker"
    failed, result = run_module(image_load.main, dest=dest, runtimes=["containerd"], containerd_namespace="a b")
    assert failed and result["msg"].startswith("containerd namespace 'a b' is not valid")
    failed, result = run_module(image_load.main, dest=dest, runtimes=["docker"], docker_host="tcp://h:2375/x")
    assert failed and result["msg"].startswith("docker host 'tcp://h:2375/x' is not a Docker daemon address")
    failed, result = run_module(image_load.main, dest="relative", runtimes=["docker"])
    assert failed and result["msg"].startswith("dest 'relative' is not an absolute path")


def test_image_push_shows_the_registry_but_no_credential(dest):
    failed, result, text = run_module_text(
        image_push.main, dest=dest, registry="https://user:hunter22@registry.test", username="u", password="pw"
    )
    assert failed and "hunter22" not in text and "not of the form https://host[:port]" in result["msg"]
    failed, result, text = run_module_text(
        image_push.main, dest=dest, registry="https://registry.test:5000", username="u", password="pw-secret"
    )
    assert failed and result["msg"].startswith(f"{dest}/index.json does not exist")
    assert "pw-secret" not in text
    failed, result = run_module(image_push.main, dest=dest, registry="https://registry.test:5000", username="u")
    assert failed and "username" in result["msg"] and "password" in result["msg"]


def test_image_push_failure_names_registry_and_image(dest):
    add_image(dest, "oci", "1.0", f"{HOST}/team/app:1.0")
    failed, result = run_module(image_push.main, dest=dest, registry="http://127.0.0.1:9")
    assert failed and result["msg"].startswith(
        "registry http://127.0.0.1:9: team/app:1.0: HEAD /v2/team/app/manifests/1.0"
    )
    assert result["actions"] == [] and result["pushed"] == 0
