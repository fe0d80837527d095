# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""RuntimeImage: bad input is refused with a message naming the value, before any runtime is called."""

import json

import pytest
from images import DOCKER
from images import ECR_HOST

from ansible_collections.airgap.ecr.plugins.module_utils.runtime_image import ImageInputError
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_image import RuntimeImage


def test_names(pair):
    image = pair[0].runtime_image()
    assert image.repository == f"{ECR_HOST}/{pair[0].repository}" and image.tag == "1.0"
    assert image.pinned_name == f"{ECR_HOST}/{pair[0].repository}@{pair[0].digest}"
    by_digest = pair[0].runtime_image(name=pair[0].pinned)
    assert by_digest.tag is None and by_digest.pinned_name == pair[0].pinned


@pytest.mark.parametrize(
    "name",
    ["team/app:1.0", "app", f"{ECR_HOST}/Team/app:1", f"{ECR_HOST}/team/app", f"{ECR_HOST}/app:1@sha256:" + "0" * 64],
)
def test_bad_names(pair, name):
    with pytest.raises(ImageInputError, match=f"image name {name!r} is not a full image reference"):
        pair[0].runtime_image(name=name)


def test_other_digest_in_name(pair):
    name = f"{ECR_HOST}/team/app@sha256:" + "0" * 64
    with pytest.raises(ImageInputError, match="pins the digest sha256:0+, but the manifest's digest is"):
        pair[0].runtime_image(name=name)


def test_wrong_digest_and_media_type(pair):
    one = pair[0]
    with pytest.raises(ImageInputError, match="is not the sha256 of the manifest bytes"):
        RuntimeImage(one.manifest, DOCKER["manifest"], "sha256:" + "1" * 64, one.open_blob, one.name)
    with pytest.raises(ImageInputError, match="the manifest declares"):
        RuntimeImage(one.manifest, "application/vnd.oci.image.manifest.v1+json", one.digest, one.open_blob, one.name)
    index = json.dumps({"schemaVersion": 2, "manifests": []}).encode()
    with pytest.raises(ImageInputError, match="is not an image manifest"):
        RuntimeImage(index, "application/vnd.oci.image.index.v1+json", one.digest, one.open_blob, one.name)
