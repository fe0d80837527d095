#!/usr/bin/python

# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: ecr_image_layers
version_added: 0.1.0
short_description: Resolve Amazon ECR images to their verified manifests and the download URL of every blob
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
  - With O(images), one run resolves a whole image set for O(platform); C(BatchGetImage) is called per
    repository with up to 100 images a call (and once more, batched alike, for the platform manifests that
    indexes name), and C(GetDownloadUrlForLayer) once per distinct blob of the set, not per image; a blob that
    several images share, even in several repositories, is listed once in RV(blobs).
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
    required: false
  image_tag:
    description:
      - The tag of the image, for example C(1.4.2). Exactly one of O(image_tag) and O(image_digest) is required
        with O(repository).
    type: str
    aliases: ['tag']
  image_digest:
    description:
      - The digest of the image's manifest or index, C(sha256:) and 64 lowercase hexadecimal characters.
      - Exactly one of O(image_tag) and O(image_digest) is required with O(repository).
    type: str
  images:
    description:
      - A set of images to resolve in one run, instead of the one image of O(repository) and O(image_tag) or
        O(image_digest) (mutually exclusive with those three).
      - Each image gives exactly one of O(images[].tag) and O(images[].digest). Every entry is checked before any
        call, and every problem is reported with its position, for example C(images[2].tag).
      - Every image is resolved for the same O(platform); O(registry_id) is the default of the images without
        O(images[].registry_id).
      - The task fails when any image cannot be resolved; RV(failures) then lists every image that failed.
    type: list
    elements: dict
    suboptions:
      repository:
        description: The image's repository, as O(repository). Required.
        type: str
      tag:
        description: The image's tag, as O(image_tag).
        type: str
      digest:
        description: The digest of the image's manifest or index, as O(image_digest).
        type: str
      registry_id:
        description: The 12-digit AWS account id of the registry that holds the repository, as O(registry_id).
        type: str
      name:
        description:
          - The image's full name in the results (RV(images[].name)), an image reference C(name[:tag]) or
            C(name@digest).
          - Defaults to the image's ECR reference, C(<registry id>.dkr.ecr.<region>.<DNS suffix>/<repository>:<tag>)
            (or C(@<digest>) when given by digest), with the registry id ECR answers with and the DNS suffix of
            the region's AWS partition.
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
  - airgap.ecr.attributes
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

- name: Resolve a set of images for arm64 hosts in one run; shared blobs are resolved once
  airgap.ecr.ecr_image_layers:
    images:
      - repository: team/app
        tag: "1.4.2"
      - repository: team/worker
        digest: "sha256:0b3f4a5e9c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f"
      - repository: base/nginx
        tag: "1.27"
        registry_id: "210987654321"
        name: registry.example/base/nginx:1.27
    platform: linux/arm64
    region: eu-west-1
  delegate_to: localhost
  run_once: true
  no_log: true
  register: image_set

- name: Download every distinct blob of the set once on each target, verified
  ansible.builtin.get_url:
    url: "{{ item.download_url }}"
    dest: "/srv/images/blobs/{{ item.digest | replace(':', '/') }}"
    checksum: "{{ item.digest }}"
    mode: "0644"
  loop: "{{ image_set.blobs }}"
  loop_control:
    label: "{{ item.digest }}"
  no_log: true
"""

RETURN = r"""
image_digest:
  description: The digest of the selected image manifest (for an index, of the platform's entry).
  returned: without O(images)
  type: str
  sample: "sha256:0b3f4a5e9c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f"
index_digest:
  description: The digest of the image index or manifest list the image was selected from, or V(null).
  returned: without O(images)
  type: str
media_type:
  description: The media type of the selected manifest.
  returned: without O(images)
  type: str
  sample: application/vnd.oci.image.manifest.v1+json
manifest:
  description:
    - The selected manifest's exact text; written to a file as UTF-8 it has the digest RV(image_digest).
  returned: without O(images)
  type: str
platform:
  description:
    - Without O(images), the platform of the index entry that was selected, or V(null) for an image that is not an
      index.
    - With O(images), the platform asked for (O(platform)); each image has its own RV(images[].platform).
  returned: always
  type: str
  sample: linux/arm64/v8
config:
  description: The config blob's descriptor and download URL.
  returned: without O(images)
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
  returned: without O(images)
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
  description:
    - Without O(images), the sum of the sizes of the config and of every layer, in bytes.
    - With O(images), the sum of the sizes of the distinct blobs in RV(blobs), in bytes.
  returned: always
  type: int
expires_at:
  description: The earliest expiry of the download URLs (ISO 8601, UTC), or V(null) when there are none.
  returned: always
  type: str
images:
  description: One entry per image of O(images), in input order, without download URLs (those are in RV(blobs)).
  returned: with O(images)
  type: list
  elements: dict
  contains:
    repository:
      description: The repository, as given.
      type: str
    tag:
      description: The tag asked for, or V(null).
      type: str
    digest:
      description: The digest asked for, or V(null).
      type: str
    registry_id:
      description: The registry id ECR answered with (the account that holds the repository).
      type: str
    name:
      description: The image's full name, O(images[].name), by default its ECR reference (see O(images[].name)).
      type: str
    digest_name:
      description: The repository part of RV(images[].name), C(@), and RV(images[].image_digest).
      type: str
    image_digest:
      description: The digest of the image manifest selected for O(platform).
      type: str
    index_digest:
      description: The digest of the index the image was selected from, or V(null).
      type: str
    media_type:
      description: The media type of the selected manifest.
      type: str
    manifest:
      description: The selected manifest's exact text, whose digest is RV(images[].image_digest).
      type: str
    platform:
      description: The platform of the index entry that was selected, or V(null) for an image that is not an index.
      type: str
    config:
      description: The config blob's descriptor, C(digest), C(media_type) and C(size).
      type: dict
    layers:
      description: The layers' descriptors in manifest order, C(digest), C(media_type), C(size), C(foreign) (C(urls)).
      type: list
      elements: dict
blobs:
  description:
    - The distinct blobs of the set (configs and layers whose bytes ECR holds; not foreign layers), each once
      however many images use it, in the order they first appear.
  returned: with O(images)
  type: list
  elements: dict
  contains:
    digest:
      description: The digest of the blob, which every image that uses it names.
      type: str
    size:
      description: Its size in bytes.
      type: int
    media_type:
      description: Its media type, as the first image that uses it gives it.
      type: str
    download_url:
      description: Its pre-signed download URL, a bearer credential until RV(blobs[].expires_at); V(null) with
        O(download_urls=false).
      type: str
    expires_at:
      description: When RV(blobs[].download_url) stops working (ISO 8601, UTC), or V(null).
      type: str
image_count:
  description: The number of images in O(images).
  returned: with O(images)
  type: int
blob_count:
  description: The number of distinct blobs, the length of RV(blobs).
  returned: with O(images)
  type: int
shared_blob_count:
  description: The number of blobs in RV(blobs) that more than one image manifest uses.
  returned: with O(images)
  type: int
failures:
  description:
    - With O(images), when images could not be resolved, one entry per such image in input order, with C(position),
      C(repository), C(tag), C(digest), C(error_code) and C(error_message).
    - When download URLs could not be resolved, one entry per blob, with C(layer_digest), C(error_code) and
      C(error_message).
  returned: on failure
  type: list
  elements: dict
"""

from ansible_collections.amazon.aws.plugins.module_utils.exceptions import AnsibleAWSError

from ansible_collections.airgap.ecr.plugins.module_utils.ecr_request import request_argument_spec
from ansible_collections.airgap.ecr.plugins.module_utils.image_names import IMAGE_SPEC
from ansible_collections.airgap.ecr.plugins.module_utils.image_set import resolve_module_request
from ansible_collections.airgap.ecr.plugins.module_utils.modules import AirgapECRModule
from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError


def main():
    spec = request_argument_spec(
        image_tag=dict(type="str", aliases=["tag"]),
        image_digest=dict(type="str"),
        images=dict(type="list", elements="dict", options=IMAGE_SPEC),
        platform=dict(type="str", default="linux/amd64"),
        download_urls=dict(type="bool", default=True),
    )
    spec["repository"]["required"] = False
    module = AirgapECRModule(
        argument_spec=spec,
        mutually_exclusive=[["image_tag", "image_digest"], ["images", "repository"], ["images", "image_tag"]]
        + [["images", "image_digest"]],
        required_one_of=[["repository", "images"]],
        supports_check_mode=True,
    )
    try:
        result = resolve_module_request(module)
    except ValidationError as e:
        module.fail_json(msg=str(e))
    except AnsibleAWSError as e:
        module.fail_json_aws_error(e)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
