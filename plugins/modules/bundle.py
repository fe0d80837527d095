#!/usr/bin/python

# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: bundle
version_added: 0.2.0
short_description: Make, verify and join bundles of ECR images that cross an air gap on media
description:
  - Runs on the controller (C(delegate_to=localhost)). Needs no AWS credentials and no network.
  - A bundle is a directory holding an OCI image layout with every image of every platform (ECR's exact manifest
    bytes as blobs, shared blobs once), C(bundle.json) (its machine-readable description), C(SUMMARY.txt) (the
    same for a person) and C(SHA256SUMS) (every other file's sha256, for C(sha256sum -c)). Optionally the layout
    is one tar cut into numbered parts C(parts/bundle.tar.000), C(001), ... for media.
  - A bundle made with O(since) is a delta. It holds only the blobs that the bundle at O(since) and the bundles
    it extends lack, and records the id of the bundle it extends.
  - O(step=plan) checks O(dest) and O(since) and creates the hidden directory C(.<name>.partial) next to O(dest)
    that the bundle is built in. Download the blobs into its C(layout) directory (RV(layout)) with
    M(airgap.ecr.blob_fetch), then O(step=pack) writes the manifests, C(index.json), the description, the summary,
    the checksums and the parts, and renames the directory to O(dest). A bundle directory that exists is complete.
  - O(step=verify) checks every file against C(SHA256SUMS), that every part and blob the description lists is
    there with its checksum, and every blob's digest. A missing or corrupt part is named. A split bundle is then
    joined into O(work_dir), each blob hashed again on the way. Nothing is returned before all of that passed.
author:
  - airgap.ecr maintainers (@airgap-ecr)
options:
  step:
    description: What to do.
    type: str
    required: true
    choices: [plan, pack, verify]
  dest:
    description: The directory of the new bundle (O(step=plan) and O(step=pack)). It must not exist; its parent must.
    type: path
  since:
    description: The directory of a previous bundle; the new bundle holds only the blobs it and its bases lack.
    type: path
  resolutions:
    description:
      - For O(step=pack), the results of M(airgap.ecr.ecr_image_layers) with
        O(airgap.ecr.ecr_image_layers#module:images), one per platform, each reduced to its C(platform) and C(images)
        (leave the download URLs out).
    type: list
    elements: dict
  requests:
    description:
      - For O(step=pack), the images as asked for (the O(airgap.ecr.ecr_image_layers#module:images) list), in the same
        order as each resolution's C(images); an entry's C(ref_name) names the image in the layout (default its tag).
    type: list
    elements: dict
  part_size:
    description:
      - For O(step=pack), cut the layout into parts of at most this size, such as V(4G), V(700M) or V(64K)
        (binary units), at least 1024 bytes. By default the layout is not cut.
    type: str
  src:
    description: The directory of the bundle to verify (O(step=verify)).
    type: path
  work_dir:
    description:
      - For O(step=verify) of a split bundle, the directory the parts are joined into, as an OCI layout in a
        subdirectory named after the bundle's id (blobs there already, verified, are kept).
    type: path
attributes:
  check_mode:
    support: partial
    details:
      - O(step=plan) and O(step=pack) check their input and write nothing. O(step=verify) checks every checksum
        but does not join the parts, and returns no RV(layout) for a split bundle.
  diff_mode:
    support: none
  platform:
    platforms: posix
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
seealso:
  - module: airgap.ecr.ecr_image_layers
  - module: airgap.ecr.blob_fetch
  - module: airgap.ecr.oci_layout
"""

EXAMPLES = r"""
- name: Plan a delta bundle next to the previous one
  airgap.ecr.bundle:
    step: plan
    dest: /media/out/bundle-2
    since: /media/out/bundle-1
  delegate_to: localhost
  run_once: true
  register: plan

- name: Verify a bundle carried across the gap, joining its parts
  airgap.ecr.bundle:
    step: verify
    src: /media/usb/bundle-2
    work_dir: /var/tmp/airgap-bundles
  delegate_to: localhost
  run_once: true
  register: bundle

- name: Show what it holds
  ansible.builtin.debug:
    msg: "{{ bundle.images | map(attribute='name') }} in {{ bundle.layout }}"
"""

RETURN = r"""
staging:
  description: The hidden directory the bundle is built in (O(step=plan)).
  returned: when O(step=plan)
  type: str
layout:
  description:
    - O(step=plan), the layout directory to download the blobs into. O(step=verify), the verified layout of the
      bundle (its C(layout) directory, or the one the parts were joined into).
  returned: when O(step=plan) or O(step=verify)
  type: str
base:
  description: The bundle this one extends, C(id), C(name), C(created), or V(null).
  returned: always
  type: dict
id:
  description: The bundle's id, the sha256 of its content, its base's id and when it was made.
  returned: when O(step=pack) or O(step=verify)
  type: str
created:
  description: When the bundle was made (ISO 8601, UTC).
  returned: when O(step=pack) or O(step=verify)
  type: str
platforms:
  description: The platforms of the bundle's images.
  returned: when O(step=pack) or O(step=verify)
  type: list
  elements: str
images:
  description:
    - One entry per image and platform, C(name), C(ref_name), C(platform), C(bundle_platform), C(repository), C(tag),
      C(digest), C(registry_id), C(image_digest), C(media_type), C(manifest_size) and C(blobs) (the digests of its
      config and layers); with O(step=verify) also C(manifest), its exact text.
    - C(bundle_platform) is the platform of the bundle's RV(platforms) the image was resolved for, which a host's
      platform is matched with; C(platform) is the image's own, which an image index may name more precisely (for
      example V(linux/arm64/v8) for V(linux/arm64)).
  returned: when O(step=pack) or O(step=verify)
  type: list
  elements: dict
blobs:
  description: The config and layer blobs the images use, C(digest), C(size), C(media_type) and C(in_bundle).
  returned: when O(step=pack) or O(step=verify)
  type: list
  elements: dict
available:
  description: The digests of every blob a layout holds once this bundle and the bundles it extends are delivered.
  returned: when O(step=pack) or O(step=verify)
  type: list
  elements: str
parts:
  description: The parts, C(part_size), C(size) and C(files) (C(name), C(size), C(sha256)), or V(null).
  returned: when O(step=pack) or O(step=verify)
  type: dict
"""

import datetime

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.ecr.plugins.module_utils import bundle_pack
from ansible_collections.airgap.ecr.plugins.module_utils import bundle_read
from ansible_collections.airgap.ecr.plugins.module_utils.bundle_format import BundleError
from ansible_collections.airgap.ecr.plugins.module_utils.bundle_format import parse_part_size
from ansible_collections.airgap.ecr.plugins.module_utils.layout import LayoutError

REQUIRED = {"plan": ["dest"], "pack": ["dest", "resolutions"], "verify": ["src"]}


def run(params, check_mode):
    """The result of one step."""
    step = params["step"]
    missing = [name for name in REQUIRED[step] if not params[name]]
    if missing:
        raise BundleError(f"step={step} needs " + " and ".join(missing))
    if step == "plan":
        if check_mode:
            return dict(changed=True, base=bundle_pack.base_of(params["since"]))
        return dict(changed=True, **bundle_pack.plan(params["dest"], params["since"]))
    if step == "pack":
        part_size = parse_part_size(params["part_size"])
        resolutions = [dict(r, requests=params["requests"]) for r in params["resolutions"]]
        if check_mode:
            return dict(changed=True, base=bundle_pack.base_of(params["since"]))
        created = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return dict(changed=True, **bundle_pack.pack(params["dest"], resolutions, params["since"], part_size, created))
    return dict(changed=False, **bundle_read.verify(params["src"], params["work_dir"], join=not check_mode))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            step=dict(type="str", required=True, choices=["plan", "pack", "verify"]),
            dest=dict(type="path"),
            since=dict(type="path"),
            resolutions=dict(type="list", elements="dict"),
            requests=dict(type="list", elements="dict"),
            part_size=dict(type="str"),
            src=dict(type="path"),
            work_dir=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    try:
        result = run(module.params, module.check_mode)
    except (BundleError, LayoutError, OSError) as e:
        module.fail_json(msg=str(e))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
