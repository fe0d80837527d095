# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The image_load and image_push modules, through their entry points, against the real daemons and layouts."""

import json
import os

import pytest
from conftest import PASSWORD
from conftest import USERNAME
from conftest import run
from layouts import tree_digest
from layouts import write_layout

from ansible_collections.airgap.ecr.plugins.module_utils.registry_client import RegistryClient
from ansible_collections.airgap.ecr.plugins.modules import image_load
from ansible_collections.airgap.ecr.plugins.modules import image_push
from ansible_collections.airgap.ecr.tests.support.modules import run_module
from ansible_collections.airgap.ecr.tests.support.modules import run_module_text

ALL = ["containerd", "podman", "docker"]


@pytest.fixture(name="layout")
def layout_fixture(pair, workdir, request):
    dest = os.path.join(workdir, "layouts", request.node.name[:60])
    os.makedirs(dest)
    return write_layout(dest, pair)


@pytest.fixture(name="runtime_options")
def runtime_options_fixture(containerd, dockerd, podman_env, monkeypatch):
    environ, policy = podman_env
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    return {
        "containerd_address": containerd.socket,
        "containerd_namespace": "airgap-modules",
        "docker_host": dockerd.host,
        "podman_signature_policy": policy,
    }


def ctr_images(containerd, namespace="airgap-modules"):
    lines = run(["ctr", "-a", containerd.socket, "-n", namespace, "images", "ls"]).splitlines()[1:]
    return {line.split()[0]: line.split()[2] for line in lines}


def podman_inspect(podman_env, name):
    return json.loads(run(["podman", "image", "inspect", name], env=podman_env[0]))[0]


def docker_id(dockerd, name):
    return run(["docker", "-H", dockerd.host, "image", "inspect", "--format", "{{.Id}}", name]).strip()


def test_load_into_every_runtime_by_name_and_digest_then_nothing(
    layout, pair, runtime_options, containerd, dockerd, podman_env
):
    before = tree_digest(layout)
    failed, result = run_module(image_load.main, dest=layout, runtimes=ALL, **runtime_options)
    assert not failed, result
    assert result["changed"] and result["loaded"] == 6 and result["images"] == [image.name for image in pair]
    assert [(a["runtime"], a["name"]) for a in result["actions"]] == [(r, i.name) for r in ALL for i in pair]
    listed = ctr_images(containerd)
    for image in pair:
        assert listed[image.name] == image.digest and listed[image.pinned] == image.digest
        by_name, by_digest = podman_inspect(podman_env, image.name), podman_inspect(podman_env, image.pinned)
        assert by_name["Digest"] == image.digest and by_name["Id"] == by_digest["Id"]
        assert docker_id(dockerd, image.name) == image.config_digest
    # ECR's bytes, unchanged: the Docker schema 2 image stays Docker schema 2 in containerd.
    stored = run(["ctr", "-a", containerd.socket, "-n", "airgap-modules", "content", "get", pair[0].digest])
    assert stored.encode() == pair[0].manifest
    failed, again = run_module(image_load.main, dest=layout, runtimes=ALL, **runtime_options)
    assert not failed and not again["changed"] and again["loaded"] == 0, again
    assert all(a["actions"] == [] for a in again["actions"])
    assert tree_digest(layout) == before, "image_load changed the layout"


def test_check_mode_says_what_and_loads_nothing(layout, pair, runtime_options, containerd, dockerd, podman_env):
    failed, result = run_module(image_load.main, check_mode=True, dest=layout, runtimes=ALL, **runtime_options)
    assert not failed and result["changed"] and result["loaded"] == 6, result
    assert result["actions"][0]["actions"] == [
        f"import {pair[0].pinned} into namespace airgap-modules",
        f"tag {pair[0].name}",
    ]
    assert all(a["msg"].startswith(f"{a['runtime']}: {a['name']}: would ") for a in result["actions"])
    assert not set(ctr_images(containerd)) & {pair[0].name, pair[0].pinned, pair[1].name}
    podman_names = run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"], env=podman_env[0]).split()
    docker_names = run(["docker", "-H", dockerd.host, "images", "--format", "{{.Repository}}:{{.Tag}}"]).split()
    assert not {image.name for image in pair} & set(podman_names + docker_names)


def test_name_by_digest_alone(pair, workdir, runtime_options, containerd, dockerd, podman_env):
    image = pair[1]
    dest = write_layout(os.path.join(workdir, "layouts", "by-digest"), [image], names={image.name: image.pinned})
    failed, result = run_module(image_load.main, dest=dest, runtimes=ALL, **runtime_options)
    assert not failed, result
    tagged = f"{image.pinned.split('@')[0]}:sha256-{image.digest.split(':')[1]}"
    assert [a["name"] for a in result["actions"]] == [image.pinned, tagged, tagged]
    assert ctr_images(containerd)[image.pinned] == image.digest
    assert podman_inspect(podman_env, image.pinned)["Digest"] == image.digest
    assert tagged in podman_inspect(podman_env, image.pinned)["RepoTags"]
    assert docker_id(dockerd, tagged) == image.config_digest
    failed, again = run_module(image_load.main, dest=dest, runtimes=ALL, **runtime_options)
    assert not failed and not again["changed"], again


def test_missing_runtime_names_runtime_image_and_what_to_do(layout, pair, workdir, runtime_options, monkeypatch):
    before = tree_digest(layout)
    missing = dict(runtime_options, containerd_address=os.path.join(workdir, "no-such.sock"))
    failed, result = run_module(image_load.main, dest=layout, runtimes=["containerd"], **missing)
    assert failed
    assert result["msg"] == (
        f"containerd: {pair[0].name}: containerd socket {workdir}/no-such.sock not found: is containerd running? "
        "set image_fetch_containerd_address to its socket (k3s and RKE2 have their own)"
    )
    monkeypatch.setenv("PATH", "/nonexistent")
    failed, result = run_module(image_load.main, dest=layout, runtimes=["podman"], **runtime_options)
    assert failed and result["msg"] == (
        f"podman: {pair[0].name}: the command 'podman' was not found: "
        "install podman on the host (Debian: the podman package) or give its path"
    )
    assert result["actions"] == [] and tree_digest(layout) == before


def test_bad_input_fails_before_any_runtime(layout, pair, runtime_options):
    absent = f"{pair[0].name}-absent"
    failed, result = run_module(image_load.main, dest=layout, images=[absent], runtimes=ALL, **runtime_options)
    assert failed and f"has no image with the full name (io.containerd.image.name) {absent!r}" in result["msg"]
    failed, result = run_module(image_load.main, dest=layout, images=["app:1"], runtimes=ALL, **runtime_options)
    assert failed and "image name 'app:1' is not a full image reference" in result["msg"]
    os.remove(os.path.join(layout, "blobs", "sha256", pair[1].layer_digests()[1].split(":")[1]))
    failed, result = run_module(image_load.main, dest=layout, runtimes=["containerd"], **runtime_options)
    assert failed and result["msg"].startswith(f"{pair[1].name}: the layout at {layout} lacks"), result


def test_push_with_basic_auth_and_ca_then_nothing(layout, pair, registry_basic, capsys):
    options = dict(registry=registry_basic.url, username=USERNAME, password=PASSWORD, ca_path=registry_basic.ca)
    first_only = [pair[0].name]
    failed, result, text = run_module_text(image_push.main, dest=layout, images=first_only, **options)
    assert not failed and result["pushed"] == 1 and result["uploaded"] == 3, result
    repository = pair[0].repository
    assert result["actions"][0]["pushed_as"] == f"{repository}:1.0" and result["actions"][0]["digest"] == pair[0].digest
    failed, both, text2 = run_module_text(image_push.main, dest=layout, **options)
    assert not failed and both["pushed"] == 1, both
    # The base layer is in the first image's repository: the second image's upload skips or mounts it.
    assert both["uploaded"] == 2 and both["mounted"] == 1 and both["skipped"] == 0, both
    client = RegistryClient(registry_basic.url, USERNAME, PASSWORD, ca_path=registry_basic.ca)
    for image in pair:
        assert client.manifest_digest(image.repository, image.tag, image.flavour["manifest"]) == image.digest
    failed, again, text3 = run_module_text(image_push.main, dest=layout, **options)
    assert not failed and not again["changed"] and again["pushed"] == 0 and again["uploaded"] == 0, again
    printed = capsys.readouterr()
    assert PASSWORD not in text + text2 + text3 + printed.out + printed.err
    assert registry_basic.url in json.dumps(result["actions"]), "the registry's address is not a secret"


def test_push_skips_blobs_the_registry_has(pair, workdir, registry_plain):
    image = pair[0]
    dest = write_layout(os.path.join(workdir, "layouts", "retag"), [image])
    failed, result = run_module(image_push.main, dest=dest, registry=registry_plain.url)
    assert not failed and result["uploaded"] == 3, result
    latest = image.name.rsplit(":", 1)[0] + ":latest"
    write_layout(dest, [image], names={image.name: latest})
    failed, result = run_module(image_push.main, dest=dest, images=[latest], registry=registry_plain.url)
    assert not failed and result["pushed"] == 1 and result["uploaded"] == 0 and result["skipped"] == 3, result


def test_push_check_mode_and_bad_password(layout, pair, registry_basic):
    options = dict(registry=registry_basic.url, username=USERNAME, ca_path=registry_basic.ca)
    failed, would = run_module(image_push.main, check_mode=True, dest=layout, password=PASSWORD, **options)
    assert not failed and would["pushed"] == 2 and would["uploaded"] == 0, would
    client = RegistryClient(registry_basic.url, USERNAME, PASSWORD, ca_path=registry_basic.ca)
    assert client.manifest_digest(pair[0].repository, "1.0", pair[0].flavour["manifest"]) is None
    failed, result, text = run_module_text(image_push.main, dest=layout, password=PASSWORD + "-x", **options)
    assert failed and result["msg"].startswith(f"registry {registry_basic.url}: {pair[0].repository}:1.0: "), result
    assert "check image_fetch_push_username and image_fetch_push_password" in result["msg"]
    assert PASSWORD not in text
