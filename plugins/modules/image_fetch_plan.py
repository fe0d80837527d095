#!/usr/bin/python

# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: image_fetch_plan
version_added: 0.2.0
short_description: Work out a host's platform and image set for the image_fetch role, and check the role's variables
description:
  - An action plugin that runs on the controller; the first task of the C(airgap.ecr.image_fetch) role on each host,
    where it replaces a fact gathering, a C(set_fact) and an C(assert) (three forks of C(ansible-playbook) per host,
    each compiling the role's templates, where this is one and renders none). Other playbooks have no need of it.
  - When O(platform) is not set and the host has no C(architecture) fact, gathers the host's minimal facts first
    (the C(setup) module with C(gather_subset=min)), which are kept as the host's facts, as a C(setup) task's are.
  - Checks the variables before any ECR call and fails with every problem found in one message, each naming the
    values - no image set or two of them, a one-image set without exactly one of tag and digest, an unknown O(via),
    a host whose platform cannot be told from its architecture, two images with the same ref_name in the layout.
  - Sets the facts the role's other tasks read - C(image_fetch__platform), C(image_fetch__dest),
    C(image_fetch__refs) (each image's ref_name; its tag, or C(latest), when it has none) and
    C(image_fetch__wanted) (the set without ref_names, the platform, and the key of its resolution in the
    controller's cache, which hosts with the same set, registry and platform share).
author:
  - airgap.ecr maintainers (@airgap-ecr)
options:
  images:
    description: The role's C(image_fetch_images); when empty, the one-image options make a set of one.
    type: list
    elements: dict
    default: []
  repository:
    description: The role's C(image_fetch_repository); set it or O(images), not both.
    type: str
  tag:
    description:
      - The role's C(image_fetch_tag), the ref_name of the one image when O(ref_name) is not set.
      - With O(repository), exactly one of O(tag) and O(digest) is required.
    type: str
  digest:
    description: The role's C(image_fetch_digest).
    type: str
  ref_name:
    type: str
    description: The role's C(image_fetch_ref_name), the one image's name in the layout (default O(tag), or C(latest)).
  registry_id:
    description:
      - The role's C(image_fetch_registry_id). Part of the resolution's key, since the same set from another registry
        is another resolution.
    type: str
  platform:
    description:
      - The role's C(image_fetch_platform). By default the host's, from its C(architecture) fact and O(platforms); no
        facts are gathered when it is set.
    type: str
  dest:
    required: true
    type: str
    description: The role's C(image_fetch_dest), kept as the fact C(image_fetch__dest) for the role's summary.
  via:
    description: The role's C(image_fetch_via), which must be one of O(via_modes).
    type: str
    default: direct
  platforms:
    description: The OCI platform of each architecture fact (the role's vars), for example C(linux/amd64) for C(x86_64).
    required: true
    type: dict
  via_modes:
    description: The values O(via) may take.
    type: list
    elements: str
    required: true
attributes:
  check_mode:
    support: full
    details: Changes nothing on the host in any mode; the facts are set in check mode too.
  diff_mode:
    support: none
  platform:
    platforms: posix
    details: Runs on the controller; the fact gathering, when needed, runs the C(setup) module on the host.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
seealso:
  - module: airgap.ecr.ecr_image_layers
  - module: airgap.ecr.oci_layout
"""

EXAMPLES = r"""
- name: Work out the host's platform and image set, and check the role's variables
  airgap.ecr.image_fetch_plan:
    images: "{{ image_fetch_images }}"
    repository: "{{ image_fetch_repository }}"
    tag: "{{ image_fetch_tag }}"
    digest: "{{ image_fetch_digest }}"
    ref_name: "{{ image_fetch_ref_name }}"
    registry_id: "{{ image_fetch_registry_id }}"
    platform: "{{ image_fetch_platform }}"
    dest: "{{ image_fetch_dest }}"
    via: "{{ image_fetch_via }}"
    platforms: "{{ image_fetch__platforms }}"
    via_modes: "{{ image_fetch__via_modes }}"
"""

RETURN = r"""
ansible_facts:
  description:
    - C(image_fetch__platform), C(image_fetch__dest), C(image_fetch__refs) and C(image_fetch__wanted) (C(key),
      C(platform), C(images)), and the host's minimal facts when they were gathered.
  returned: success
  type: dict
"""
