#!/usr/bin/python

# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: blob_sync
version_added: 0.2.0
short_description: Send a host, over its Ansible connection, only the blobs its OCI image layout lacks
description:
  - An action plugin; it runs on the controller and reads the blobs from O(src), a blob store on the controller (an
    OCI image layout, C(src/blobs/<algorithm>/<hex>)), for example the cache that the M(airgap.ecr.blob_fetch) task
    of the C(airgap.ecr.image_fetch) role fills with C(image_fetch_via=controller), or a bundle's verified layout.
    The hosts need no route to Amazon S3 or anything else; the bytes travel over the Ansible connection.
  - First asks the host (with M(airgap.ecr.blob_receive)) which of O(blobs) its layout O(dest) already has, each
    verified against its digest and size; a wrong file at a blob's path there is removed.
  - Then checks that every blob the host lacks is in O(src) with its size, and fails naming every one that is not
    before anything is sent (a delta store that lacks a blob the host also lacks is refused here).
  - Then puts the missing blobs into Ansible's private temporary directory on the host (at most 1 GiB at a time, a
    bigger blob alone) and has M(airgap.ecr.blob_receive) verify each copy's digest and size while writing it to the
    blob's C(.partial) in the layout, and rename it into place, under the blob's lock. A copy that is damaged or
    cut is refused and not kept; nothing unverified is ever at a blob's final path, and the temporary directory is
    removed at the end. Running the task again sends what is still missing.
  - Each source file is opened without following a symlink, is sent only while its name is that file, and, with
    O(src_strict_modes), the directories of O(src) must pass the same rule as a layout's (O(strict_modes)).
  - Several hosts are served at once by Ansible's C(forks). The result has the keys of a download's result, so that
    a summary of downloads sums up transfers too.
  - Check mode tells what would be sent and sends nothing.
author:
  - airgap.ecr maintainers (@airgap-ecr)
options:
  src:
    description:
      - The blob store on the controller, the root of an OCI image layout (the directory holding C(blobs/)). C(~) is
        expanded on the controller.
    type: str
    required: true
  dest:
    description: The root directory of the OCI image layout on the host.
    type: str
    required: true
  blobs:
    description:
      - The blobs the host's layout must hold, each a dict with C(digest) and C(size) (other keys, such as the
        C(download_url) of an M(airgap.ecr.ecr_image_layers) result, are ignored and never sent to the host).
      - Everything is checked before anything is sent; each problem is reported with the position of its entry.
    type: list
    elements: raw
    required: true
  src_strict_modes:
    description:
      - Refuse a O(src) whose directories another user could change (owned by another user than root and the one
        running Ansible, or writable by group or others), as O(strict_modes) does for the layout on the host.
      - With V(false), for a store shared on purpose (for example a bundle on removable media); symlinks under O(src)
        are never followed either way, and every byte is verified on the host.
    type: bool
    default: true
  mode:
    description: The mode of the blob files written on the host, as an octal string such as V('0640').
    type: raw
  owner:
    description: The user (name or id) that owns the files and directories created on the host.
    type: str
  group:
    description: The group (name or id) of the files and directories created on the host.
    type: str
seealso:
  - module: airgap.ecr.blob_receive
  - module: airgap.ecr.blob_fetch
  - module: airgap.ecr.oci_layout
attributes:
  check_mode:
    support: full
    details: Asks the host what it has (read only) and reports the blobs it would send as C(would_send).
  diff_mode:
    support: none
  platform:
    platforms: posix
    details: The controller reads O(src); each host runs M(airgap.ecr.blob_receive), which needs a POSIX system.
extends_documentation_fragment:
  - airgap.ecr.layout
  - ansible.builtin.action_common_attributes
"""

EXAMPLES = r"""
- name: Fill the controller's cache with the image's blobs, once, verified
  airgap.ecr.blob_fetch:
    dest: "~/.cache/airgap.ecr/store"
    blobs: "{{ [image.config] + image.layers | rejectattr('foreign') }}"
  delegate_to: localhost
  run_once: true
  no_log: true  # the URLs are credentials until they expire

- name: Send each host only the blobs it lacks
  airgap.ecr.blob_sync:
    src: "~/.cache/airgap.ecr/store"
    dest: /srv/images/store
    blobs: "{{ [image.config] + image.layers | rejectattr('foreign') }}"
  no_log: true  # the blob entries carry the download URLs (they are not sent to the host)
  register: sync

- name: Write the layout from the blobs in place
  airgap.ecr.oci_layout:
    dest: /srv/images/store
    manifest: "{{ image.manifest | string }}"
    media_type: "{{ image.media_type }}"
    source_digest: "{{ image.image_digest }}"
    ref_name: "1.4.2"
"""

RETURN = r"""
src:
  description: The blob store the blobs were read from, with C(~) expanded.
  returned: always
  type: str
sent:
  description: How many blobs were sent, verified on the host and moved into place.
  returned: always
  type: int
present:
  description: How many blobs the host's layout already had, verified.
  returned: always
  type: int
bytes_sent:
  description: The bytes of the blobs sent.
  returned: always
  type: int
total:
  description: How many distinct blobs were asked for.
  returned: always
  type: int
done:
  description: How many of them are in place on the host, verified (RV(sent) plus RV(present)).
  returned: always
  type: int
fetched:
  description: The same as RV(sent), under the name a download's result uses.
  returned: always
  type: int
bytes:
  description: The same as RV(bytes_sent), under the name a download's result uses.
  returned: always
  type: int
seconds:
  description: The wall time of the task, in seconds.
  returned: always
  type: float
throughput:
  description: RV(bytes_sent) divided by RV(seconds), in bytes per second.
  returned: always
  type: float
blobs:
  description:
    - One entry for each distinct blob, with C(digest), C(size), C(status) (C(sent), C(present), C(would_send) in
      check mode, or C(failed)), C(replaced_corrupt) (a wrong file at its path on the host was removed) and, for a
      failed blob, C(error).
  returned: always
  type: list
  elements: dict
"""
