# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""load_podman against the host's podman, with storage in a temporary directory."""

import json
import os

import pytest
from conftest import run

from ansible_collections.airgap.ecr.plugins.module_utils.load_podman import PodmanLoader
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_image import ImageInputError
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_image import RuntimeLoadError


def inspect(podman_env, name):
    return json.loads(run(["podman", "image", "inspect", name], env=podman_env[0]))[0]


def test_load_keeps_ecr_digest_then_nothing(podman_env, pair, workdir):
    environ, policy = podman_env
    loader = PodmanLoader(signature_policy=policy, environ=environ, tmpdir=workdir)
    for image in pair:
        first = loader.load(image.runtime_image())
        assert first["changed"]
        by_name, by_digest = inspect(podman_env, image.name), inspect(podman_env, image.pinned)
        assert by_name["Digest"] == image.digest and by_name["Id"] == by_digest["Id"]
        assert image.pinned in by_name["RepoDigests"] and image.name in by_name["RepoTags"]
        assert by_name["Id"] == image.config_digest.split(":")[1]
    assert not [name for name in os.listdir(workdir) if name.startswith(".airgap-ecr-podman-")], "temporary copy left"
    for image in pair:
        image.opened.clear()
        again = loader.load(image.runtime_image())
        assert not again["changed"] and image.opened == []


def test_check_mode_changes_nothing(podman_env, pair):
    environ, policy = podman_env
    image = pair[0]
    would = PodmanLoader(signature_policy=policy, environ=environ).load(image.runtime_image(), check_mode=True)
    assert would["changed"] and would["msg"].startswith(f"podman: {image.name}: would pull")
    assert image.opened == []
    names = run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"], env=environ).split()
    assert image.name not in names


def test_missing_podman_says_what_to_do(pair):
    with pytest.raises(RuntimeLoadError) as error:
        PodmanLoader(podman="/nonexistent/podman").load(pair[0].runtime_image())
    assert str(error.value) == (
        f"podman: {pair[0].name}: the command '/nonexistent/podman' was not found: "
        "install podman on the host (Debian: the podman package) or give its path"
    )


def test_refused_pull_names_runtime_and_image(podman_env, pair):
    environ, policy = podman_env
    image = pair[1]
    image.blobs[image.config_digest] = image.blobs[image.config_digest][:-1] + b" "
    with pytest.raises(RuntimeLoadError) as error:
        PodmanLoader(signature_policy=policy, environ=environ).load(image.runtime_image())
    assert str(error.value).startswith(f"podman: {image.name}: 'podman pull' failed: ")
    assert "does not match expected" in str(error.value)


def test_digest_only_name_needs_a_tag(podman_env, pair):
    image = pair[0]
    with pytest.raises(ImageInputError, match="podman cannot give an image a name by digest alone"):
        PodmanLoader(environ=podman_env[0]).load(image.runtime_image(name=image.pinned))


def test_moved_tag_follows_the_new_image(podman_env, pair):
    environ, policy = podman_env
    one, two = pair
    loader = PodmanLoader(signature_policy=policy, environ=environ)
    loader.load(one.runtime_image())
    moved = loader.load(two.runtime_image(name=one.name))
    assert moved["changed"]
    assert inspect(podman_env, one.name)["Digest"] == two.digest
    assert not loader.load(two.runtime_image(name=one.name))["changed"]
