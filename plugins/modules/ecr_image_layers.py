#!/usr/bin/python

# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecr_image_layers
version_added: 0.1.0
short_description: Resolve an Amazon ECR image to its verified manifest and the download URL of every blob
description:
  - Gets an image's manifest from Amazon ECR (C(BatchGetImage)) by tag or digest, checks that the manifest's
    exact bytes have the expected digest, and returns the config and layer descriptors with, for each, a
    pre-signed download URL (C(GetDownloadUrlForLayer)), so that hosts without AWS credentials can fetch
    and verify the whole image.
  - OCI image manifests and Docker v2 schema 2 manifests are the image itself. For an OCI image index or a
    Docker manifest list, the entry for O(platform) is selected, fetched, and verified against the digest
    the index gives for it.
  - Docker schema 1 manifests and other media types are rejected with a message saying so.
  - Layers whose bytes live outside the registry (foreign or non-distributable layers, by their media type)
    are returned, marked with RV(layers[].foreign), with their C(urls) and without a download URL. Other
    layers that list C(urls) as extra locations are resolved as usual.
  - Run it on the controller (C(delegate_to=localhost), C(run_once=true)); one resolution serves every host.
  - Each download URL is checked as M(airgap.ecr.ecr_layer_url) checks it (the digest ECR echoes, C(https)).
  - Download URLs are bearer credentials until they expire; set C(no_log=true) on tasks that register or
    use them.
  - Requires the C(ecr:BatchGetImage) and, with O(download_urls=true), C(ecr:GetDownloadUrlForLayer) IAM
    permissions on the repository.
author:
  - airgap.ecr maintainers (@airgap-ecr)
options:
  repository:
    aliases: ['repository_name']
  image_tag:
    description:
      - The tag of the image, for example C(1.4.2). Exactly one of O(image_tag) and O(image_digest) is required.
    type: str
    aliases: ['tag']
  image_digest:
    description:
      - The digest of the image's manifest or index, C(sha256:) and 64 lowercase hexadecimal characters.
      - Exactly one of O(image_tag) and O(image_digest) is required.
    type: str
  platform:
    description:
      - The platform to select from an image index or manifest list, as C(os/architecture[/variant]).
      - C(linux/arm64) matches an entry for C(linux/arm64/v8) (and an entry without variant matches the
        variant its architecture implies, C(v8) for arm64 and C(v7) for arm).
      - Ignored for an image that is not an index.
    type: str
    default: linux/amd64
  download_urls:
    description:
      - Also resolve the pre-signed download URL of the config and of every layer, concurrently.
      - With V(false), only BatchGetImage is called.
    type: bool
    default: true
seealso:
  - module: airgap.ecr.ecr_layer_url
  - module: ansible.builtin.get_url
extends_documentation_fragment:
  - airgap.ecr.ecr_request
  - airgap.ecr.attributes.action_group
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
"""

EXAMPLES = r"""
- name: Resolve team/app:1.4.2 for arm64 hosts, once, on the controller
  airgap.ecr.ecr_image_layers:
    repository: team/app
    image_tag: "1.4.2"
    platform: linux/arm64
    region: eu-west-1
  delegate_to: localhost
  run_once: true
  no_log: true
  register: image

- name: Download the config and every layer on the targets, verified
  ansible.builtin.get_url:
    url: "{{ item.download_url }}"
    dest: "/srv/images/blobs/{{ item.digest | replace(':', '/') }}"
    checksum: "{{ item.digest }}"
    mode: "0644"
  loop: "{{ [image.config] + image.layers }}"
  loop_control:
    label: "{{ item.digest }}"
  no_log: true

- name: Keep the manifest, byte for byte, so that it keeps its digest
  ansible.builtin.copy:
    content: "{{ image.manifest | string }}"  # "| string" keeps the exact text on every ansible-core
    dest: "/srv/images/blobs/{{ image.image_digest | replace(':', '/') }}"
    mode: "0644"

- name: Only the manifest, no URLs
  airgap.ecr.ecr_image_layers:
    repository: team/app
    image_digest: "sha256:0b3f4a5e9c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f"
    download_urls: false
  delegate_to: localhost
  register: image_manifest
"""

RETURN = r"""
image_digest:
  description: The digest of the selected image manifest (for an index, of the platform's entry).
  returned: always
  type: str
  sample: "sha256:0b3f4a5e9c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f"
index_digest:
  description: The digest of the image index or manifest list the image was selected from, or V(null).
  returned: always
  type: str
media_type:
  description: The media type of the selected manifest.
  returned: always
  type: str
  sample: application/vnd.oci.image.manifest.v1+json
manifest:
  description:
    - The selected manifest's exact text; written to a file as UTF-8 it has the digest RV(image_digest).
  returned: always
  type: str
platform:
  description: The platform of the index entry that was selected, or V(null) for an image that is not an index.
  returned: always
  type: str
  sample: linux/arm64/v8
config:
  description: The config blob's descriptor and download URL.
  returned: always
  type: dict
  contains:
    digest:
      description: The config blob's digest.
      type: str
    media_type:
      description: The config blob's media type.
      type: str
    size:
      description: The config blob's size in bytes.
      type: int
    download_url:
      description:
        - The pre-signed download URL (a bearer credential until it expires).
        - V(null) with O(download_urls=false).
      type: str
    expires_at:
      description: When the URL stops working (ISO 8601, UTC), or V(null).
      type: str
layers:
  description: The layers, in manifest order.
  returned: always
  type: list
  elements: dict
  contains:
    digest:
      description: The layer's digest.
      type: str
    media_type:
      description: The layer's media type.
      type: str
    size:
      description: The layer's size in bytes.
      type: int
    download_url:
      description:
        - The pre-signed download URL (a bearer credential until it expires).
        - V(null) for foreign layers and with O(download_urls=false).
      type: str
    expires_at:
      description: When the URL stops working (ISO 8601, UTC), or V(null).
      type: str
    foreign:
      description: Whether the layer's bytes live outside the registry (a foreign or non-distributable media type).
      type: bool
    urls:
      description: The URLs the manifest gives for the layer's bytes (for foreign layers, where they live).
      type: list
      elements: str
      returned: when the manifest gives them
total_size:
  description: The sum of the sizes of the config and of every layer, in bytes.
  returned: always
  type: int
expires_at:
  description: The earliest expiry of the download URLs (ISO 8601, UTC), or V(null) when there are none.
  returned: always
  type: str
"""

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError

from ansible_collections.airgap.ecr.plugins.module_utils.ecr import ecr_client
from ansible_collections.airgap.ecr.plugins.module_utils.ecr_request import request_argument_spec
from ansible_collections.airgap.ecr.plugins.module_utils.ecr_request import validate_ecr_request
from ansible_collections.airgap.ecr.plugins.module_utils.images import resolve_image_layers
from ansible_collections.airgap.ecr.plugins.module_utils.modules import AirgapECRModule
from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError


def main():
    module = AirgapECRModule(
        argument_spec=request_argument_spec(
            image_tag=dict(type="str", aliases=["tag"]),
            image_digest=dict(type="str"),
            platform=dict(type="str", default="linux/amd64"),
            download_urls=dict(type="bool", default=True),
        ),
        mutually_exclusive=[["image_tag", "image_digest"]],
        required_one_of=[["image_tag", "image_digest"]],
        supports_check_mode=True,
    )
    try:
        request = validate_ecr_request(module.params)
        client = ecr_client(module, request.concurrency)
        result = resolve_image_layers(client, request, module.params["download_urls"], module.region, module.allow_http)
    except ValidationError as e:
        module.fail_json(msg=str(e))
    except AnsibleAWSError as e:
        module.fail_json_aws_error(e)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
