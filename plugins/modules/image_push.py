#!/usr/bin/python

# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: image_push
version_added: 0.1.0
short_description: Push images from an OCI layout to a registry inside the network
description:
  - Runs on a host that holds the OCI image layout at O(dest) (as the M(airgap.ecr.oci_layout) module and the
    P(airgap.ecr.image_fetch#role) role write it) and can reach the registry. Speaks the OCI distribution API
    itself, with the Python standard library; no skopeo, crane or other tool is needed on the host.
  - Each image of O(images) is pushed as C(<repository>:<tag>), the repository and tag taken from its full name
    without the registry host (C(<account>.dkr.ecr.<region>.<DNS suffix>/team/app:1.4.2) becomes
    C(team/app:1.4.2) in O(registry)). An image named by digest alone is pushed by its digest.
  - ECR's manifest bytes are pushed unchanged, so the registry reports ECR's digest (the task fails otherwise).
    Blobs the registry already has are not sent; a blob another image of the task already sent to another
    repository is mounted from there. An image whose tag already names ECR's digest is not pushed at all, so a
    second run pushes nothing and reports no change. In check mode only HEAD requests are sent.
  - Authentication is none, basic, or token (the registry's C(WWW-Authenticate) Bearer challenge), with
    O(username) and O(password). They are sent only to the registry and to its token server, never to an
    C(http://) token server of an C(https://) registry, and appear in no output.
  - Nothing in the layout is written.
  - To load the images into the host's own runtimes instead, see M(airgap.ecr.image_load).
author:
  - airgap.ecr maintainers (@airgap-ecr)
options:
  registry:
    description:
      - The registry, C(https://host[:port]), or C(http://host[:port]) for a plain-HTTP registry; no path and no
        credentials (those are O(username) and O(password)).
    type: str
    required: true
  username:
    description: The user to authenticate as (basic or token auth); together with O(password).
    type: str
  password:
    description: The user's password; never shown in any output.
    type: str
  validate_certs:
    description: Verify the registry's TLS certificate.
    type: bool
    default: true
  ca_path:
    description: A PEM file of the CA certificates to verify the registry's certificate with.
    type: path
attributes:
  check_mode:
    details:
      - In check mode the registry only gets HEAD requests; nothing is uploaded, mounted or tagged.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - airgap.ecr.attributes.target
  - airgap.ecr.layout_images
"""

EXAMPLES = r"""
- name: Push every image of the layout to the registry inside the network, once
  airgap.ecr.image_push:
    dest: /var/lib/images
    registry: https://registry.internal:5000
    username: pusher
    password: "{{ vault_registry_password }}"
    ca_path: /etc/pki/internal-ca.pem
  run_once: true
  register: pushed

- name: Say what was sent
  ansible.builtin.debug:
    msg: "{{ pushed.pushed }} image(s) pushed, {{ pushed.uploaded }} blob(s) uploaded, {{ pushed.mounted }} mounted"
"""

RETURN = r"""
actions:
  description:
    - One entry per image, in order, with what was done (or, in check mode, would be done). When the task fails,
      the entries before the failure.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The image's full name in the layout.
      type: str
    digest:
      description: ECR's manifest digest, which the registry reports too.
      type: str
    pushed_as:
      description: C(<repository>:<tag>) (or C(<repository>@<digest>)) in the registry.
      type: str
    changed:
      description: Whether the image was (or would be) pushed.
      type: bool
    missing:
      description: The blobs the registry lacked.
      type: list
      elements: str
    uploaded:
      description: The blobs uploaded.
      type: list
      elements: str
    mounted:
      description: The blobs mounted from another repository of the registry.
      type: list
      elements: str
    msg:
      description: One line saying what was done.
      type: str
pushed:
  description: How many images were pushed (in check mode, would be pushed).
  returned: always
  type: int
uploaded:
  description: How many blobs were uploaded.
  returned: always
  type: int
mounted:
  description: How many blobs were mounted from another repository instead of uploaded.
  returned: always
  type: int
skipped:
  description: How many blobs of the pushed images the registry already had.
  returned: always
  type: int
images:
  description:
    - The full names of the images read from the layout, in the order they are pushed.
    - RV(actions) has what was done with each, and the name it has in the registry.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.airgap.ecr.plugins.module_utils.image_delivery import LAYOUT_IMAGES_SPEC
from ansible_collections.airgap.ecr.plugins.module_utils.image_delivery import DeliveryModule
from ansible_collections.airgap.ecr.plugins.module_utils.image_delivery import deliver
from ansible_collections.airgap.ecr.plugins.module_utils.image_delivery import read_images
from ansible_collections.airgap.ecr.plugins.module_utils.layout_images import push_reference
from ansible_collections.airgap.ecr.plugins.module_utils.registry_client import RegistryClient
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_image import ImageInputError


def counts(names):
    """The figures of a push's results: images pushed, blobs uploaded, mounted and already there."""

    def figures(results):
        pushed = [result for result in results if result["changed"]]
        return dict(
            pushed=len(pushed),
            uploaded=sum(len(result["uploaded"]) for result in results),
            mounted=sum(len(result["mounted"]) for result in results),
            skipped=sum(len(result["blobs"]) - len(result["missing"]) for result in pushed),
            images=names,
        )

    return figures


def _step(client, image, check_mode):
    repository, reference = push_reference(image)

    def push():
        pushed = client.push(image, repository, reference, check_mode=check_mode)
        pushed["blobs"] = [blob["digest"] for blob in image.blobs()]
        return pushed

    return push


def main():
    module = DeliveryModule(
        argument_spec=dict(
            registry=dict(type="str", required=True),
            username=dict(type="str"),
            password=dict(type="str", no_log=True),
            validate_certs=dict(type="bool", default=True),
            ca_path=dict(type="path"),
            **LAYOUT_IMAGES_SPEC,
        ),
        required_together=[["username", "password"]],
        supports_check_mode=True,
    )
    params = module.params
    try:
        client = RegistryClient(
            params["registry"], params["username"], params["password"], params["validate_certs"], params["ca_path"]
        )
    except ImageInputError as e:
        module.fail_json(msg=str(e))
    images = read_images(module)
    deliver(module, [_step(client, image, module.check_mode) for image in images], counts([i.name for i in images]))


if __name__ == "__main__":
    main()
