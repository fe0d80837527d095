# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""load_docker against a real dockerd 20.10, which cannot load OCI archives."""

import json
import os

import pytest
from conftest import run
from daemons import docker_client

from ansible_collections.airgap.ecr.plugins.module_utils.load_docker import DockerLoader
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_image import ImageInputError
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_image import RuntimeLoadError


def inspect(dockerd, name):
    return json.loads(run([docker_client(), "-H", dockerd.host, "image", "inspect", name]))[0]


def test_load_by_name_then_nothing(dockerd, pair):
    loader = DockerLoader(host=dockerd.host, docker=docker_client())
    for image in pair:
        first = loader.load(image.runtime_image())
        assert first["changed"] and first["image_id"] == image.config_digest
        found = inspect(dockerd, image.name)
        assert found["Id"] == image.config_digest and found["RepoTags"] == [image.name]
        assert (
            found["Config"]["Labels"]["test.marker"]
            == image.repository.split("/")[0] + "-" + image.repository.split("/")[1]
        )
    for image in pair:
        image.opened.clear()
        again = loader.load(image.runtime_image())
        assert not again["changed"] and image.opened == []


def test_check_mode_changes_nothing(dockerd, pair):
    image = pair[1]
    would = DockerLoader(host=dockerd.host, docker=docker_client()).load(image.runtime_image(), check_mode=True)
    assert would["changed"] and "would load" in would["msg"] and image.opened == []
    names = run([docker_client(), "-H", dockerd.host, "images", "--format", "{{.Repository}}:{{.Tag}}"]).split()
    assert image.name not in names


def test_missing_socket_says_what_to_do(workdir, pair):
    socket = os.path.join(workdir, "nowhere", "docker.sock")
    with pytest.raises(RuntimeLoadError) as error:
        DockerLoader(host=f"unix://{socket}", docker=docker_client()).load(pair[0].runtime_image())
    assert str(error.value) == (
        f"docker: {pair[0].name}: Docker socket {socket} not found: is dockerd running? "
        "set image_fetch_docker_host to the daemon's address (unix:///path/to/docker.sock)"
    )


def test_refused_layer_names_runtime_and_image(dockerd, pair):
    image = pair[0]
    layer = image.layer_digests()[1]
    # Same size, other bytes: Docker rejects what does not decompress to the config's diff_id.
    image.blobs[layer] = bytes(len(image.blobs[layer]))
    with pytest.raises(RuntimeLoadError) as error:
        DockerLoader(host=dockerd.host, docker=docker_client()).load(image.runtime_image())
    assert str(error.value).startswith(f"docker: {image.name}: 'docker load")


@pytest.mark.parametrize("host", ["docker.sock", "unix://relative.sock", "http://127.0.0.1:2375", "tcp://a b"])
def test_bad_host_rejected_before_any_call(host):
    with pytest.raises(ImageInputError, match="is not a Docker daemon address"):
        DockerLoader(host=host)


def test_digest_only_name_needs_a_tag(dockerd, pair):
    image = pair[0]
    with pytest.raises(ImageInputError, match="docker cannot give an image a name by digest alone"):
        DockerLoader(host=dockerd.host).load(image.runtime_image(name=image.pinned))


def test_moved_tag_follows_the_new_image(dockerd, pair):
    one, two = pair
    loader = DockerLoader(host=dockerd.host, docker=docker_client())
    loader.load(one.runtime_image())
    assert loader.load(two.runtime_image(name=one.name))["changed"]
    assert inspect(dockerd, one.name)["Id"] == two.config_digest
    assert not loader.load(two.runtime_image(name=one.name))["changed"]
