# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The images of an OCI layout as the runtime loaders and the registry client take them.

Target side: standard library and ``ansible.module_utils`` only. The image_load and image_push
modules' reading of a layout, without Ansible: ``layout_images()`` finds each image asked for in
``index.json`` (by its full name, ``io.containerd.image.name``, or by its ref name) and returns a
``RuntimeImage`` over ECR's exact manifest bytes (the blob named by the entry's
``io.github.airgap-ecr.source.digest``, or the entry's own manifest when it was not converted)
and the layout's blobs, read through the layout owner (never through a symlink). Nothing in the
layout is written.
"""

import json

from ansible_collections.airgap.ecr.plugins.module_utils.digests import digest_of
from ansible_collections.airgap.ecr.plugins.module_utils.layout import INDEX_FILE
from ansible_collections.airgap.ecr.plugins.module_utils.layout import REF_NAME
from ansible_collections.airgap.ecr.plugins.module_utils.layout import SOURCE_DIGEST
from ansible_collections.airgap.ecr.plugins.module_utils.layout import SOURCE_MEDIA_TYPE
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_image import ImageInputError
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_image import RuntimeImage
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_image import split_name

CONTAINERD_NAME = "io.containerd.image.name"
# podman and Docker cannot name an image by digest alone: such an image gets this tag (cosign's convention).
DIGEST_TAG_PREFIX = "sha256-"
_MAX_MANIFEST = 4 * 1024 * 1024


def index_entries(layout):
    """The entries of the layout's index.json (dicts); raises ImageInputError when there is no usable index."""
    text = layout.read_text(INDEX_FILE)
    if text is None:
        raise ImageInputError(
            f"{layout.path_of(INDEX_FILE)} does not exist: dest must be an OCI layout written by "
            "airgap.ecr.oci_layout (the image_fetch role's image_fetch_dest)"
        )
    try:
        manifests = json.loads(text).get("manifests")
    except (ValueError, AttributeError):
        manifests = None
    if not isinstance(manifests, list):
        raise ImageInputError(
            f"{layout.path_of(INDEX_FILE)} is not an OCI image index (a JSON object with a 'manifests' list)"
        )
    return [entry for entry in manifests if isinstance(entry, dict)]


def _annotations(entry):
    annotations = entry.get("annotations")
    return annotations if isinstance(annotations, dict) else {}


def wanted_images(entries, images):
    """``[(name, selector, value)]``: each image asked for, found by full name or by ref name.

    ``images`` entries are a full name (found by ``io.containerd.image.name``) or a dict
    ``{"name", "ref_name"?}`` (found by ref name when given, else by name). None: every entry that
    carries a full name. Raises ImageInputError for an entry of the wrong form.
    """
    if images is None:
        named = [_annotations(entry).get(CONTAINERD_NAME) for entry in entries]
        return [(name, CONTAINERD_NAME, name) for name in dict.fromkeys(n for n in named if isinstance(n, str))]
    wanted = []
    for position, item in enumerate(images):
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or set(item) - {"name", "ref_name"}:
            raise ImageInputError(
                f"images[{position}] {item!r} is not an image: expected a full name "
                "(<registry host>/<repository>:<tag> or @sha256:<hex>) or a dict with name and optional ref_name"
            )
        split_name(item["name"])
        if item.get("ref_name") is not None:
            wanted.append((item["name"], REF_NAME, str(item["ref_name"])))
        else:
            wanted.append((item["name"], CONTAINERD_NAME, item["name"]))
    return wanted


def find_entry(entries, selector, value, layout):
    """The last entry whose annotation ``selector`` is ``value`` (a rerun's entry replaces the earlier one)."""
    found = [entry for entry in entries if _annotations(entry).get(selector) == value]
    if not found:
        what = "full name (io.containerd.image.name)" if selector == CONTAINERD_NAME else "ref name"
        raise ImageInputError(
            f"{layout.path_of(INDEX_FILE)} has no image with the {what} {value!r}: fetch it into this layout first "
            "(the image_fetch role), or name an image the layout holds"
        )
    return found[-1]


def source_manifest(layout, entry, name):
    """``(bytes, media_type, digest)``: ECR's exact manifest of an index entry, read back and checked."""
    annotations = _annotations(entry)
    digest = annotations.get(SOURCE_DIGEST) or entry.get("digest")
    media_type = annotations.get(SOURCE_MEDIA_TYPE) if annotations.get(SOURCE_DIGEST) else entry.get("mediaType")
    if not isinstance(digest, str) or not digest.startswith("sha256:") or len(digest) != 71:
        raise ImageInputError(f"{name}: the index entry's digest {digest!r} is not sha256:<64 hex>")
    try:
        with layout.open_blob(digest) as handle:
            data = handle.read(_MAX_MANIFEST + 1)
    except FileNotFoundError:
        raise ImageInputError(
            f"{name}: the layout at {layout.root} lacks ECR's manifest {digest} (the registry's exact bytes): "
            "fetch the image again with a version of airgap.ecr.oci_layout that keeps them"
        ) from None
    if digest_of(data) != digest:
        raise ImageInputError(
            f"{name}: the manifest blob {layout.blob_path(digest)} does not have its digest {digest}: "
            "the layout is damaged; fetch the image again"
        )
    return data, media_type, digest


def runtime_image(layout, entry, name):
    """The ``RuntimeImage`` of ``entry`` named ``name``, once every blob it needs is in the layout with its size."""
    data, media_type, digest = source_manifest(layout, entry, name)
    image = RuntimeImage(data, media_type, digest, layout.open_blob, name)
    wrong = [blob["digest"] for blob in image.blobs() if layout.blob_size(blob["digest"]) != blob["size"]]
    if wrong:
        raise ImageInputError(
            f"{name}: the layout at {layout.root} lacks, or has a wrong size of, the blob(s) {', '.join(wrong)}: "
            "fetch the image again"
        )
    return image


def layout_images(layout, images):
    """The ``RuntimeImage`` of each image asked for (see ``wanted_images``); every check before any runtime call."""
    entries = index_entries(layout)
    wanted = wanted_images(entries, images)
    if not wanted:
        raise ImageInputError(
            f"{layout.path_of(INDEX_FILE)} names no image by its full name (io.containerd.image.name): "
            "give images explicitly"
        )
    return [
        runtime_image(layout, find_entry(entries, selector, value, layout), name) for name, selector, value in wanted
    ]


def tagged(image):
    """``image`` itself, or, for a name by digest alone, the same image named ``<repository>:sha256-<hex>``.

    podman and Docker cannot give an image a name by digest alone; containerd can, and keeps it.
    """
    if image.tag is not None:
        return image
    name = f"{image.repository}:{DIGEST_TAG_PREFIX}{image.digest.split(':', 1)[1]}"
    return RuntimeImage(image.manifest, image.media_type, image.digest, image.open_blob, name)


def push_reference(image):
    """``(repository, tag_or_digest)`` in a registry: the name's path without its host, and its tag or digest."""
    path = image.repository.split("/", 1)[1]
    return path, image.tag if image.tag is not None else image.digest
