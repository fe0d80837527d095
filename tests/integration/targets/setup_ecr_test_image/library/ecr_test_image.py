#!/usr/bin/python

# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecr_test_image
short_description: Push a small generated image to ECR, or delete its repository (integration test helper)
description:
  - Creates the repository if needed and pushes an image made of generated gzip'ed tar layers, through ECR's
    own layer upload APIs and C(PutImage), as a container client does.
  - O(kind) chooses the image's form, from a single Docker v2 schema 2 image to a multi-platform OCI image
    index; the manifests of an index are pushed by digest first, then the index under O(tag).
  - With O(state=absent), deletes the repository and its images.
  - Works against real ECR and against the local emulator.
options:
  repository:
    description: Repository name.
    type: str
    required: true
  tag:
    description: Tag of the pushed image (for an index, of the index).
    type: str
    default: test
  kind:
    description:
      - V(docker) is a Docker v2 schema 2 image for linux/amd64.
      - V(oci) is an OCI image manifest with OCI config and layer media types, for linux/amd64.
      - V(oci-index) is an OCI image index with entries for linux/amd64 and linux/arm64/v8, each a full OCI
        image with its own config and layers.
      - V(docker-list) is the same as a Docker manifest list of Docker v2 schema 2 images.
      - V(foreign) is a Docker v2 schema 2 image whose first layer is a foreign layer with C(urls), which is
        not uploaded, followed by the uploaded layers of O(layer_sizes).
    type: str
    choices: [docker, oci, oci-index, docker-list, foreign]
    default: docker
  layer_sizes:
    description: Size in bytes of the random content of each (uploaded) layer of each image.
    type: list
    elements: int
    default: [1024, 65536, 300000]
  base_layer_sizes:
    description:
      - Size in bytes of the random content of each base layer, placed before the layers of O(layer_sizes).
      - A base layer's content depends only on its size, position and platform, so that images pushed with the same
        O(base_layer_sizes) share these blobs, whatever their repository or O(kind) (for an index, per platform).
    type: list
    elements: int
    default: []
  state:
    description: Whether the image should be pushed or the repository deleted.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

RETURN = r"""
repository:
  description: The repository.
  returned: state=present
  type: str
kind:
  description: The O(kind) pushed.
  returned: state=present
  type: str
media_type:
  description: The media type of the manifest (or index) pushed under O(tag).
  returned: state=present
  type: str
image_digest:
  description: The digest of the manifest (or index) pushed under O(tag).
  returned: state=present
  type: str
manifest:
  description: The exact text of the manifest (or index) pushed under O(tag).
  returned: state=present
  type: str
config_digest:
  description: The digest of the image's config blob.
  returned: state=present, for an image that is not an index
  type: str
config_size:
  description: The size of the image's config blob.
  returned: state=present, for an image that is not an index
  type: int
layers:
  description:
    - The image's layers, in manifest order, as C(digest), C(size), C(media_type) and C(foreign); foreign
      layers also have C(urls).
  returned: state=present, for an image that is not an index
  type: list
  elements: dict
layer_digests:
  description: The digests of the image's layers, in manifest order.
  returned: state=present, for an image that is not an index
  type: list
  elements: str
index_digest:
  description: The digest of the index (the same as RV(image_digest)).
  returned: state=present, for an index
  type: str
manifests:
  description:
    - One entry per platform, in index order, with C(platform) (C(os/arch[/variant])), C(digest), C(media_type),
      C(manifest) (its exact text), C(config_digest), C(config_size), C(layer_digests) and C(layers).
  returned: state=present, for an index
  type: list
  elements: dict
"""

import gzip
import hashlib
import io
import json
import random
import tarfile

try:
    from botocore.exceptions import BotoCoreError
    from botocore.exceptions import ClientError
except ImportError:
    pass  # Handled by AnsibleAWSModule

from ansible_collections.amazon.aws.plugins.module_utils.botocore import is_boto3_error_code
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry

DOCKER = {
    "manifest": "application/vnd.docker.distribution.manifest.v2+json",
    "index": "application/vnd.docker.distribution.manifest.list.v2+json",
    "config": "application/vnd.docker.container.image.v1+json",
    "layer": "application/vnd.docker.image.rootfs.diff.tar.gzip",
    # Docker writes its manifests indented by three spaces.
    "dumps": dict(indent=3),
}
OCI = {
    "manifest": "application/vnd.oci.image.manifest.v1+json",
    "index": "application/vnd.oci.image.index.v1+json",
    "config": "application/vnd.oci.image.config.v1+json",
    "layer": "application/vnd.oci.image.layer.v1.tar+gzip",
    # Compact, as BuildKit writes them.
    "dumps": dict(separators=(",", ":")),
}
FOREIGN_LAYER_TYPE = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
FOREIGN_LAYER_URLS = ["https://example.invalid/layer.tar.gz"]
FOREIGN_LAYER_SIZE = 2048
# The platforms of an index, in index order: (os, architecture, variant).
INDEX_PLATFORMS = [("linux", "amd64", None), ("linux", "arm64", "v8")]
PART_SIZE = 5 * 1024 * 1024


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def platform_text(os_name, architecture, variant):
    return "/".join(part for part in (os_name, architecture, variant) if part)


def make_layer(size, seed):
    """A gzip'ed tar holding one file of ``size`` random bytes; returns (blob, diff_id)."""
    content = random.Random(seed).randbytes(size)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(f"data/layer-{seed}.bin")
        info.size = size
        info.mtime = 0
        tar.addfile(info, io.BytesIO(content))
    blob = gzip.compress(raw.getvalue(), mtime=0)
    return blob, digest_of(raw.getvalue())


def push_blob(client, repository, data):
    digest = digest_of(data)
    found = client.batch_check_layer_availability(repositoryName=repository, layerDigests=[digest], aws_retry=True)
    if any(layer.get("layerAvailability") == "AVAILABLE" for layer in found.get("layers", [])):
        return digest
    upload_id = client.initiate_layer_upload(repositoryName=repository, aws_retry=True)["uploadId"]
    for first in range(0, len(data), PART_SIZE):
        part = data[first : first + PART_SIZE]
        client.upload_layer_part(
            repositoryName=repository,
            uploadId=upload_id,
            partFirstByte=first,
            partLastByte=first + len(part) - 1,
            layerPartBlob=part,
            aws_retry=True,
        )
    client.complete_layer_upload(repositoryName=repository, uploadId=upload_id, layerDigests=[digest], aws_retry=True)
    return digest


def put_manifest(client, repository, text, media_type, tag=None):
    """PutImage ``text`` under ``tag``, or by its digest when ``tag`` is None; return the digest."""
    params = dict(repositoryName=repository, imageManifest=text, imageManifestMediaType=media_type, aws_retry=True)
    if tag is None:
        params["imageDigest"] = digest_of(text.encode("utf-8"))
    else:
        params["imageTag"] = tag
    try:
        return client.put_image(**params)["image"]["imageId"]["imageDigest"]
    except is_boto3_error_code("ImageAlreadyExistsException"):
        return digest_of(text.encode("utf-8"))


def push_image_blobs(client, repository, flavour, seed, layer_sizes, platform, foreign=False, base_sizes=()):
    """Upload the config and layers of one image; return (manifest text, details of the image).

    The foreign layer (``foreign=True``) is described in the manifest but not uploaded.
    """
    os_name, architecture, variant = platform
    layers = []
    diff_ids = []
    if foreign:
        blob, diff_id = make_layer(FOREIGN_LAYER_SIZE, f"{seed}-foreign")
        layers.append(
            {
                "mediaType": FOREIGN_LAYER_TYPE,
                "size": len(blob),
                "digest": digest_of(blob),
                "urls": list(FOREIGN_LAYER_URLS),
            }
        )
        diff_ids.append(diff_id)
    sized = [(size, f"base-{platform_text(*platform)}-{index}") for index, size in enumerate(base_sizes)]
    sized += [(size, f"{seed}-{index}") for index, size in enumerate(layer_sizes)]
    for size, layer_seed in sized:
        blob, diff_id = make_layer(size, layer_seed)
        layers.append({"mediaType": flavour["layer"], "size": len(blob), "digest": push_blob(client, repository, blob)})
        diff_ids.append(diff_id)
    config_document = {
        "architecture": architecture,
        "os": os_name,
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    if variant:
        config_document["variant"] = variant
    config = json.dumps(config_document, sort_keys=True).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": flavour["manifest"],
            "config": {
                "mediaType": flavour["config"],
                "size": len(config),
                "digest": push_blob(client, repository, config),
            },
            "layers": layers,
        },
        **flavour["dumps"],
    )
    described = []
    for layer in layers:
        item = {
            "digest": layer["digest"],
            "size": layer["size"],
            "media_type": layer["mediaType"],
            "foreign": "urls" in layer,
        }
        if "urls" in layer:
            item["urls"] = layer["urls"]
        described.append(item)
    details = dict(
        media_type=flavour["manifest"],
        manifest=manifest,
        config_digest=digest_of(config),
        config_size=len(config),
        layers=described,
        layer_digests=[layer["digest"] for layer in layers],
    )
    return manifest, details


def push_single(client, repository, kind, tag, layer_sizes, base_sizes=()):
    flavour = OCI if kind == "oci" else DOCKER
    # A docker image's layers are seeded as in the first version of this module, so its digests stay the same.
    seed = repository if kind == "docker" else f"{repository}-{kind}"
    manifest, details = push_image_blobs(
        client, repository, flavour, seed, layer_sizes, INDEX_PLATFORMS[0], kind == "foreign", base_sizes
    )
    details["image_digest"] = put_manifest(client, repository, manifest, flavour["manifest"], tag)
    return details


def push_index(client, repository, kind, tag, layer_sizes, base_sizes=()):
    flavour = OCI if kind == "oci-index" else DOCKER
    entries = []
    children = []
    for platform in INDEX_PLATFORMS:
        text = platform_text(*platform)
        manifest, details = push_image_blobs(
            client, repository, flavour, f"{repository}-{kind}-{text}", layer_sizes, platform, base_sizes=base_sizes
        )
        digest = put_manifest(client, repository, manifest, flavour["manifest"])
        entry_platform = {"architecture": platform[1], "os": platform[0]}
        if platform[2]:
            entry_platform["variant"] = platform[2]
        entries.append(
            {
                "mediaType": flavour["manifest"],
                "size": len(manifest.encode("utf-8")),
                "digest": digest,
                "platform": entry_platform,
            }
        )
        children.append(dict(details, platform=text, digest=digest))
    # Indexes are indented here (the images are not), so that the index and its images differ in form too.
    index = json.dumps(
        {"schemaVersion": 2, "mediaType": flavour["index"], "manifests": entries}, indent=2 if flavour is OCI else 3
    )
    index_digest = put_manifest(client, repository, index, flavour["index"], tag)
    return dict(
        media_type=flavour["index"],
        manifest=index,
        image_digest=index_digest,
        index_digest=index_digest,
        manifests=children,
    )


def push(module, client):
    repository = module.params["repository"]
    kind = module.params["kind"]
    try:
        client.create_repository(repositoryName=repository, aws_retry=True)
    except is_boto3_error_code("RepositoryAlreadyExistsException"):
        pass
    if kind in ("oci-index", "docker-list"):
        push_kind = push_index
    else:
        push_kind = push_single
    pushed = push_kind(
        client, repository, kind, module.params["tag"], module.params["layer_sizes"], module.params["base_layer_sizes"]
    )
    return dict(pushed, changed=True, repository=repository, kind=kind)


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            repository=dict(type="str", required=True),
            tag=dict(type="str", default="test"),
            kind=dict(type="str", choices=["docker", "oci", "oci-index", "docker-list", "foreign"], default="docker"),
            layer_sizes=dict(type="list", elements="int", default=[1024, 65536, 300000]),
            base_layer_sizes=dict(type="list", elements="int", default=[]),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
    )
    client = module.client(
        "ecr", retry_decorator=AWSRetry.jittered_backoff(catch_extra_error_codes=["ThrottlingException"])
    )
    try:
        if module.params["state"] == "absent":
            try:
                client.delete_repository(repositoryName=module.params["repository"], force=True, aws_retry=True)
            except is_boto3_error_code("RepositoryNotFoundException"):
                module.exit_json(changed=False)
            module.exit_json(changed=True)
        module.exit_json(**push(module, client))
    except (BotoCoreError, ClientError) as e:  # pylint: disable=duplicate-except
        module.fail_json_aws(e, msg="Could not push the test image")


if __name__ == "__main__":
    main()
