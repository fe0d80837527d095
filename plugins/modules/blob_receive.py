#!/usr/bin/python

# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: blob_receive
version_added: 0.2.0
short_description: Tell which blobs an OCI image layout has, verified, and take in copies sent to the host
description:
  - Runs on the target host; the M(airgap.ecr.blob_sync) action runs it twice, and most plays use that action
    rather than this module.
  - For each blob of O(blobs) without O(blobs[].staged), tells whether O(dest)C(/blobs/<algorithm>/<hex>) holds it
    with the right digest and size (C(present)) or not (C(missing)). A file at a blob's path with the wrong content
    is removed (except in check mode), so nothing unverified stays at a final path.
  - For each blob with O(blobs[].staged) (a copy already put on the host, for example into Ansible's temporary
    directory), the copy is hashed while it is written to the blob's C(.<hex>.partial) in the layout, and renamed
    to its final path only when its digest and size match, under the blob's lock (the one M(airgap.ecr.blob_fetch)
    takes). A copy that does not match is refused; nothing of it stays in the layout, and the task fails naming the
    blob. The staged copy is removed in every case. It is opened without following a symlink.
  - Blobs are never read through a symlink, and the layout's directories follow O(strict_modes).
author:
  - airgap.ecr maintainers (@airgap-ecr)
options:
  dest:
    description: The OCI image layout on the host, whose C(blobs/<algorithm>/<hex>) are looked at and written.
    type: path
    required: true
  blobs:
    description: The blobs to look at or take in.
    type: list
    elements: dict
    required: true
    suboptions:
      digest:
        description: The blob's digest, C(sha256:) followed by 64 lowercase hexadecimal characters.
        type: str
        required: true
      size:
        description: The blob's size in bytes.
        type: int
        required: true
      staged:
        description:
          - The absolute path, on the host, of a copy of the blob to take in. It is removed once read.
        type: path
  mode:
    description: The mode of the blob files the module writes, as an octal string such as V('0640').
    type: raw
  owner:
    description: The user (name or id) that owns the files and directories the module creates.
    type: str
  group:
    description: The group (name or id) of the files and directories the module creates.
    type: str
seealso:
  - module: airgap.ecr.blob_sync
  - module: airgap.ecr.blob_fetch
attributes:
  check_mode:
    support: full
    details: Nothing is written or removed; a wrong file at a blob's path is reported as C(missing).
  diff_mode:
    support: none
  platform:
    platforms: posix
extends_documentation_fragment:
  - airgap.ecr.layout
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Which blobs of the image does the layout already have?
  airgap.ecr.blob_receive:
    dest: /srv/images/store
    blobs:
      - digest: sha256:4b825dc642cb6eb9a060e54bf8d69288fbee4904c3d6ef8a3c2b0e5f1f2b7b0a
        size: 1024
  check_mode: true
  register: inventory
"""

RETURN = r"""
blobs:
  description: One entry for each distinct blob, with C(digest), C(size), C(path), C(status) (C(present), C(missing),
    C(received), C(would_receive) or C(failed)), C(replaced_corrupt) and, for a failed blob, C(error).
  returned: always
  type: list
  elements: dict
present:
  description: How many blobs were already in place, verified.
  returned: always
  type: int
missing:
  description: How many blobs (without O(blobs[].staged)) are not in place.
  returned: always
  type: int
received:
  description: How many staged copies were verified and moved into place.
  returned: always
  type: int
  sample: 3
bytes_received:
  description: The bytes of the blobs moved into place.
  returned: always
  type: int
  sample: 52428800
free_bytes:
  description: The bytes free for the user running the module on the file system of O(dest).
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.ecr.plugins.module_utils.layout import LAYOUT_ARGUMENT_SPEC
from ansible_collections.airgap.ecr.plugins.module_utils.layout import LayoutError
from ansible_collections.airgap.ecr.plugins.module_utils.layout import layout_from_params
from ansible_collections.airgap.ecr.plugins.module_utils.layout_receive import FILE_ARGUMENT_SPEC
from ansible_collections.airgap.ecr.plugins.module_utils.layout_receive import normalize_entries
from ansible_collections.airgap.ecr.plugins.module_utils.layout_receive import receive_blobs
from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dest=dict(type="path", required=True),
            blobs=dict(
                type="list",
                elements="dict",
                required=True,
                options=dict(
                    digest=dict(type="str", required=True),
                    size=dict(type="int", required=True),
                    staged=dict(type="path"),
                ),
            ),
            **FILE_ARGUMENT_SPEC,
            **LAYOUT_ARGUMENT_SPEC,
        ),
        supports_check_mode=True,
    )
    try:
        blobs = normalize_entries(module.params["blobs"])
        result = receive_blobs(layout_from_params(module.params).check(), blobs, module.check_mode)
    except (ValidationError, LayoutError) as e:
        module.fail_json(msg=str(e))
    if result["failures"]:
        details = "; ".join(f"{f['digest']}: {f['error']}" for f in result["failures"])
        count = len(result["failures"])
        module.fail_json(msg=f"Could not take in {count} of {len(blobs)} blob(s): {details}", **result)
    del result["failures"]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
