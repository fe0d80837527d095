#!/usr/bin/python

# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: oci_layout
version_added: 0.1.0
short_description: Write an OCI image layout of one image or a set, downloading the blobs or finding them in place
description:
  - Runs on the target host. Writes the manifest blob, the C(oci-layout) file and, last, C(index.json) with
    an entry named O(ref_name) (annotation C(org.opencontainers.image.ref.name)), so that C(skopeo), C(umoci),
    C(podman) and other OCI tools can address the image as C(oci:<dest>:<ref_name>).
  - The image's config and layers must be in C(<dest>/blobs/) with their sizes. With O(blobs), the module first
    downloads and verifies them, exactly as M(airgap.ecr.blob_fetch) does, with the same options and the same guarantees
    (nothing unverified at a final path, resumable, blobs already in place not downloaded again), so one task
    on the target delivers a complete image. Without O(blobs), they must have been put there before, for
    example by M(airgap.ecr.blob_fetch).
  - A Docker v2 schema 2 manifest is converted to OCI media types (the config and layer bytes, digests and sizes
    are unchanged; only the manifest is new). The digest and media type it had in the registry are kept in the
    index entry's annotations C(io.github.airgap-ecr.source.digest) and C(io.github.airgap-ecr.source.media-type),
    and its exact bytes are kept as a blob under that digest (when O(source_digest) is their digest), so that
    M(airgap.ecr.image_load) and M(airgap.ecr.image_push) give runtimes and registries the registry's digest.
    OCI manifests are written byte for byte.
  - Other entries of an existing C(index.json) are kept; an entry with the same O(ref_name) is replaced. The index
    is read, merged and replaced under a lock on the layout (a C(flock) on O(dest)), so two runs adding different
    names at the same time both keep theirs. An C(index.json) that is not an OCI image index (not JSON, not UTF-8,
    not an object with a C(manifests) list) is never replaced; the task fails naming it.
  - Every file is written to a temporary name and renamed into place; C(index.json) is written last, so a
    layout that a tool can open is always complete. Nothing is rewritten when it is already as it should be.
  - With O(images), one run writes a whole image set into the layout. The blobs of O(blobs) (the union of the
    images' blobs, each listed once) are downloaded first, each once however many images use it; then, under the
    layout lock, each image's manifest is written byte for byte as the registry served it, as a blob under its
    registry digest (and, for a Docker v2 schema 2 manifest, its OCI conversion too, which the index entry points
    at), then C(oci-layout) and, last, C(index.json) with one entry per image. Each entry is named by its
    O(images[].ref_name) (C(org.opencontainers.image.ref.name)) and by its full O(images[].name)
    (C(io.containerd.image.name)), and carries C(io.github.airgap-ecr.source.digest) and
    C(io.github.airgap-ecr.source.media-type). An existing entry of the same full name is replaced, one of
    another full name under the same ref name makes the task fail (the ref name would be ambiguous).
  - Every image of O(images) is checked before any download; two images with the same name or ref name are refused.
  - Optionally packs the layout into an uncompressed tar (an C(oci-archive)) that C(podman load) and
    C(skopeo copy oci-archive:...) read.
author:
  - airgap.ecr maintainers (@airgap-ecr)
options:
  dest:
    description: The root directory of the OCI image layout (the one holding C(blobs/)).
    type: path
    required: true
  manifest:
    description:
      - The image manifest's exact text, as returned by M(airgap.ecr.ecr_image_layers) in
        RV(airgap.ecr.ecr_image_layers#module:manifest).
      - Exactly one of O(manifest) (one image) and O(images) (a set) is required.
    type: str
  media_type: &media_type
    description: The manifest's media type, when the manifest does not state it.
    type: str
  source_digest:
    description:
      - The manifest's digest in the registry, recorded in the index entry when the manifest is converted.
      - Defaults to the digest of O(manifest).
    type: str
  ref_name:
    description:
      - The name of the image in the layout (the tag part of C(oci:<dest>:<ref_name>)).
      - Letters, digits, C(_), C(.) and C(-), at most 300 characters, not starting with C(.) or C(-).
      - Required with O(manifest). An existing entry with this name is replaced.
    type: str
  platform: &platform
    description: The image's platform as C(os/architecture[/variant]), recorded in its index entry.
    type: str
  images:
    description:
      - A set of images to write in one run, instead of the one image of O(manifest), O(ref_name),
        O(source_digest), O(media_type) and O(platform) (which cannot be given with it).
      - Each entry is one platform's image. The entries of RV(airgap.ecr.ecr_image_layers#module:images) can be
        given as they are (their C(image_digest) is O(images[].source_digest), their other keys are ignored), with a
        O(images[].ref_name) added where the name's tag is not the one wanted.
    type: list
    elements: dict
    suboptions:
      manifest:
        description: The image manifest's exact text as the registry served it (not an index). Required.
        type: str
      media_type: *media_type
      source_digest:
        description:
          - The manifest's digest in the registry. The manifest's text must have this digest, which keeps a manifest
            that a template re-serialised out of the layout.
          - Defaults to the digest of O(images[].manifest).
        type: str
        aliases: [image_digest]
      name:
        description:
          - The image's full name, C(<registry host>/<repository>:<tag>) or C(<registry host>/<repository>@<digest>),
            for example its ECR reference. It names the image in C(index.json) (C(io.containerd.image.name)) and
            identifies its entry there. Required.
        type: str
      ref_name:
        description:
          - The image's name in the layout, as in C(oci:<dest>:<ref_name>). Defaults to the tag of O(images[].name);
            required when the name has a digest instead.
        type: str
      platform: *platform
      # The other keys of an entry of ecr_image_layers' images: one description, for each of them.
      repository: &ignored
        description: Ignored, so that an entry of RV(airgap.ecr.ecr_image_layers#module:images) can be given as it is.
        type: raw
      <<: {tag: *ignored, digest: *ignored, registry_id: *ignored, digest_name: *ignored, index_digest: *ignored,
           config: *ignored, layers: *ignored}
  archive:
    description:
      - Also write the layout as an uncompressed tar at this path (an C(oci-archive)), atomically, through a temporary
        file with a unique name in the same directory, under the layout lock. Its directory must exist.
      - It is rewritten only when its content would differ. An existing archive is read once and compared byte for byte
        with the archive the layout makes (each blob's bytes by their digest), so a changed archive is repaired.
    type: path
  mode:
    description:
      - The mode of the files the module writes (blobs, manifest, C(index.json), C(oci-layout), the archive), as an
        octal string such as V('0640'). Files of the image that exist already are given it too.
      - By default the umask decides for new files, and existing files are left as they are.
    type: raw
  owner:
    description:
      - The user (name or id) that owns the files and directories the module creates, and the image's files that
        exist already. Directories owned by this user are trusted by O(strict_modes).
    type: str
  group:
    description: The group (name or id) of the files and directories the module creates, and of the image's files.
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - airgap.ecr.attributes.target
  - airgap.ecr.blob_download
  - airgap.ecr.layout
seealso:
  - module: airgap.ecr.blob_fetch
  - module: airgap.ecr.ecr_image_layers
"""

EXAMPLES = r"""
- name: Resolve the image on the controller
  airgap.ecr.ecr_image_layers:
    repository: team/app
    image_tag: "1.4.2"
    platform: linux/amd64
  delegate_to: localhost
  run_once: true
  no_log: true  # the URLs are credentials until they expire
  register: image

- name: Download its blobs, verified, and write the layout, in one task on each target
  airgap.ecr.oci_layout:
    dest: /srv/images/app
    blobs: "{{ [image.config] + image.layers | rejectattr('foreign') }}"
    manifest: "{{ image.manifest | string }}"  # "| string": Ansible must not parse the JSON text
    media_type: "{{ image.media_type }}"
    source_digest: "{{ image.image_digest }}"
    ref_name: "1.4.2"
    platform: linux/amd64
  no_log: true
  register: layout

- name: Show the progress
  ansible.builtin.debug:
    msg: >-
      {{ layout.download.done }}/{{ layout.download.total }} blobs in place,
      {{ layout.download.bytes }} bytes downloaded

- name: Name the image in the layout and pack it for podman load
  airgap.ecr.oci_layout:
    dest: /srv/images/app
    manifest: "{{ image.manifest | string }}"  # "| string": Ansible must not parse the JSON text
    media_type: "{{ image.media_type }}"
    source_digest: "{{ image.image_digest }}"
    ref_name: "1.4.2"
    platform: linux/amd64
    archive: /srv/images/app-1.4.2.tar

- name: Resolve a set of images on the controller, shared blobs once
  airgap.ecr.ecr_image_layers:
    images:
      - repository: team/app
        tag: "1.4.2"
      - repository: team/worker
        tag: "2.0"
    platform: linux/amd64
  delegate_to: localhost
  run_once: true
  no_log: true
  register: image_set

- name: Download every distinct blob once and write all the images into one layout
  airgap.ecr.oci_layout:
    dest: /srv/images
    blobs: "{{ image_set.blobs }}"
    images: "{{ image_set.images }}"
  no_log: true
  register: layout
"""

RETURN = r"""
manifest_digest:
  description: The digest of the manifest in the layout (differs from RV(source_digest) when converted).
  returned: with O(manifest)
  type: str
source_digest:
  description: The manifest's digest in the registry.
  returned: with O(manifest)
  type: str
converted:
  description: Whether a Docker manifest was converted to OCI media types.
  returned: with O(manifest)
  type: bool
ref_name:
  description: The name of the image in the layout.
  returned: with O(manifest)
  type: str
images:
  description: One entry per image of O(images), in input order.
  returned: with O(images)
  type: list
  elements: dict
  contains:
    name:
      description: The image's full name.
      type: str
    ref_name:
      description: The image's name in the layout.
      type: str
    manifest_digest:
      description: The digest of the manifest that its index entry points at (differs from the source when converted).
      type: str
    source_digest:
      description: The manifest's digest in the registry; the layout holds those exact bytes as a blob.
      type: str
    converted:
      description: Whether a Docker manifest was converted to OCI media types for the index.
      type: bool
    changed:
      description: Whether this run wrote (in check mode, would write) its manifests, its index entry or its blobs.
      type: bool
files:
  description: The layout files written (or, in check mode, that would be written) by this run.
  returned: always
  type: list
  elements: str
missing:
  description: In check mode, the blobs the manifests need that are not in the layout yet (empty otherwise).
  returned: always
  type: list
  elements: str
archive:
  description: The archive path, when O(archive) is set.
  returned: when O(archive) is set
  type: str
download:
  description:
    - What the downloads of O(blobs) did, as M(airgap.ecr.blob_fetch) returns it; see its return values for
      the meaning of each key. When some blobs failed, the task fails and RV(download.failures) says why.
  returned: when O(blobs) is set
  type: dict
  contains:
    total:
      description: How many distinct blobs were asked for.
      type: int
    done:
      description: How many of them are in place and verified.
      type: int
    fetched:
      description: How many were downloaded.
      type: int
    present:
      description: How many were already in place, verified.
      type: int
    bytes:
      description: The bytes downloaded.
      type: int
    seconds:
      description: The wall time of the downloads and verifications.
      type: float
    throughput:
      description: RV(download.bytes) divided by RV(download.seconds), in bytes per second.
      type: float
    blobs:
      description: One entry for each distinct blob, with C(digest), C(path), C(status), C(bytes), C(size), C(seconds),
        C(resumed_from), C(replaced_corrupt) and, for a failed blob, C(error).
      type: list
      elements: dict
    failures:
      description: Every blob that could not be fetched, and why (without its URL).
      type: list
      elements: dict
      returned: when some blobs failed
"""

from ansible_collections.airgap.ecr.plugins.module_utils.image_layout import ImageLayoutError
from ansible_collections.airgap.ecr.plugins.module_utils.image_layout import image_request
from ansible_collections.airgap.ecr.plugins.module_utils.image_layout import write_image
from ansible_collections.airgap.ecr.plugins.module_utils.image_set_layout import IMAGE_OPTION_SPEC
from ansible_collections.airgap.ecr.plugins.module_utils.image_set_layout import SINGLE_IMAGE_OPTIONS
from ansible_collections.airgap.ecr.plugins.module_utils.image_set_layout import image_set_request
from ansible_collections.airgap.ecr.plugins.module_utils.image_set_layout import write_image_set
from ansible_collections.airgap.ecr.plugins.module_utils.layout import LAYOUT_ARGUMENT_SPEC
from ansible_collections.airgap.ecr.plugins.module_utils.layout import LayoutError
from ansible_collections.airgap.ecr.plugins.module_utils.layout import layout_from_params
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import ManifestError
from ansible_collections.airgap.ecr.plugins.module_utils.target_module import DOWNLOAD_ARGUMENT_SPEC
from ansible_collections.airgap.ecr.plugins.module_utils.target_module import TargetModule
from ansible_collections.airgap.ecr.plugins.module_utils.target_module import blobs_option
from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError


def main():
    module = TargetModule(
        argument_spec=dict(
            dest=dict(type="path", required=True),
            manifest=dict(type="str"),
            media_type=dict(type="str"),
            source_digest=dict(type="str"),
            ref_name=dict(type="str"),
            platform=dict(type="str"),
            images=dict(type="list", elements="dict", options=IMAGE_OPTION_SPEC),
            archive=dict(type="path"),
            blobs=blobs_option(),
            mode=dict(type="raw"),
            owner=dict(type="str"),
            group=dict(type="str"),
            **LAYOUT_ARGUMENT_SPEC,
            **DOWNLOAD_ARGUMENT_SPEC,
        ),
        mutually_exclusive=[["images", option] for option in SINGLE_IMAGE_OPTIONS],
        required_one_of=[["manifest", "images"]],
        required_together=[["manifest", "ref_name"]],
        supports_check_mode=True,
    )
    try:
        if module.params["images"] is not None:
            request = image_set_request(module.params)
            write = write_image_set
        else:
            request = image_request(module.params)
            write = write_image
        result = write(layout_from_params(module.params).check(), module.params, request, module.check_mode)
    except (ValidationError, ManifestError, LayoutError) as e:
        module.fail_json(msg=str(e))
    except ImageLayoutError as e:
        module.fail_json(msg=str(e), **e.details)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
