# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    """How the target-side modules (blob_fetch, oci_layout) trust and create the OCI layout at dest."""

    DOCUMENTATION = r"""
options:
  strict_modes:
    description:
      - Refuse a layout that another user could change, as ssh's C(StrictModes) does. With V(true), the task fails,
        before any download, naming the directory and the reason, when O(dest), C(blobs/) or C(blobs/<algorithm>/) is
        owned by another user than root, the user running the module and O(owner), or is writable by its group or
        by others; and when a directory above O(dest) is such a directory (a world-writable directory with the sticky
        bit, such as C(/tmp), is accepted above O(dest)).
      - With V(false), owner and mode are not checked, for a layout shared on purpose (for example a group-writable
        images directory).
      - In both cases, no path under the layout is ever opened, changed or renamed through a symlink, O(dest) itself
        must not be a symlink (give the path it points to), and files are written through a temporary file with a
        unique name.
    type: bool
    default: true
  dir_mode:
    description:
      - The mode of the directories the module creates (O(dest), its missing parents, C(blobs/), C(blobs/<algorithm>/)),
        as an octal string such as V('0750'). Directories that exist already are never changed.
      - By default the umask decides (C(0755) with the usual umask C(022)).
    type: raw
"""
