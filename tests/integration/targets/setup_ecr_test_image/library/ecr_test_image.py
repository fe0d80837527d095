#!/usr/bin/python
# -*- coding: utf-8 -*-

# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecr_test_image
short_description: Push a small generated image to ECR, or delete its repository (integration test helper)
description:
  - Creates the repository if needed and pushes a Docker v2 schema 2 image made of generated gzip'ed tar
    layers, through ECR's own layer upload APIs, as a container client does.
  - With O(state=absent), deletes the repository and its images.
  - Works against real ECR and against the local emulator.
options:
  repository:
    description: Repository name.
    type: str
    required: true
  tag:
    description: Tag of the pushed image.
    type: str
    default: test
  layer_sizes:
    description: Size in bytes of the random content of each layer.
    type: list
    elements: int
    default: [1024, 65536, 300000]
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

LAYER_TYPE = "application/vnd.docker.image.rootfs.diff.tar.gzip"
CONFIG_TYPE = "application/vnd.docker.container.image.v1+json"
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
PART_SIZE = 5 * 1024 * 1024


def digest_of(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


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
        part = data[first:first + PART_SIZE]
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


def push(module, client):
    repository = module.params["repository"]
    try:
        client.create_repository(repositoryName=repository, aws_retry=True)
    except is_boto3_error_code("RepositoryAlreadyExistsException"):
        pass
    layers = []
    diff_ids = []
    for index, size in enumerate(module.params["layer_sizes"]):
        blob, diff_id = make_layer(size, f"{repository}-{index}")
        layers.append({"mediaType": LAYER_TYPE, "size": len(blob), "digest": push_blob(client, repository, blob)})
        diff_ids.append(diff_id)
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": diff_ids}},
        sort_keys=True,
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {"mediaType": CONFIG_TYPE, "size": len(config), "digest": push_blob(client, repository, config)},
            "layers": layers,
        },
        indent=3,
    )
    try:
        response = client.put_image(
            repositoryName=repository,
            imageManifest=manifest,
            imageManifestMediaType=MANIFEST_TYPE,
            imageTag=module.params["tag"],
            aws_retry=True,
        )
        image_digest = response["image"]["imageId"]["imageDigest"]
    except is_boto3_error_code("ImageAlreadyExistsException"):
        image_digest = digest_of(manifest.encode())
    return dict(
        changed=True,
        repository=repository,
        image_digest=image_digest,
        manifest=manifest,
        config_digest=digest_of(config),
        layers=[{"digest": layer["digest"], "size": layer["size"]} for layer in layers],
        layer_digests=[layer["digest"] for layer in layers],
    )


def main():
    module = AnsibleAWSModule(
        argument_spec=dict(
            repository=dict(type="str", required=True),
            tag=dict(type="str", default="test"),
            layer_sizes=dict(type="list", elements="int", default=[1024, 65536, 300000]),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        ),
    )
    client = module.client("ecr", retry_decorator=AWSRetry.jittered_backoff(catch_extra_error_codes=["ThrottlingException"]))
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
