# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    """How image_load and image_push find the images in the OCI layout at dest (they only read it)."""

    DOCUMENTATION = r"""
options:
  dest:
    description: The root directory of the OCI image layout (the one holding C(index.json) and C(blobs/)).
    type: path
    required: true
  images:
    description:
      - The images, each either a full name, C(<registry host>/<repository>:<tag>) or
        C(<registry host>/<repository>@sha256:<hex>), found in C(index.json) by its annotation
        C(io.containerd.image.name); or a dict with C(name) (the full name to give it) and C(ref_name) (find it
        by its annotation C(org.opencontainers.image.ref.name) instead, for a layout written without full names).
      - By default, every image of C(index.json) that carries C(io.containerd.image.name).
      - ECR's exact manifest is read from the blob the entry's C(io.github.airgap-ecr.source.digest) names (or
        the entry's own manifest when it was not converted) and checked against that digest; every blob it
        lists must be in the layout with its size. All of it is checked before any runtime or registry is
        called, and nothing in the layout is written.
    type: list
    elements: raw
  strict_modes:
    description:
      - Refuse a layout that another user could change (see M(airgap.ecr.oci_layout)); V(false) for a layout
        shared on purpose. No path under the layout is ever opened through a symlink.
    type: bool
    default: true
seealso:
  - module: airgap.ecr.oci_layout
"""
