# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The OCI layout inside a bundle: which images and blobs it holds, and its manifests and ``index.json``.

Every image of every platform is one ``index.json`` entry pointing at ECR's exact manifest bytes
(stored as a blob under ECR's digest), named by its tag (``org.opencontainers.image.ref.name``)
and its full name (``io.containerd.image.name``), with its platform. Files are written through the
layout owner (``Layout``). Standard library only.
"""

import json

from ansible_collections.airgap.ecr.plugins.module_utils.bundle_format import BundleError
from ansible_collections.airgap.ecr.plugins.module_utils.digests import digest_of
from ansible_collections.airgap.ecr.plugins.module_utils.layout import OCI_LAYOUT_CONTENT
from ansible_collections.airgap.ecr.plugins.module_utils.layout_archive import INDEX_FILE
from ansible_collections.airgap.ecr.plugins.module_utils.layout_archive import OCI_LAYOUT_FILE
from ansible_collections.airgap.ecr.plugins.module_utils.layout_index import OCI_INDEX_TYPE
from ansible_collections.airgap.ecr.plugins.module_utils.layout_index import REF_NAME
from ansible_collections.airgap.ecr.plugins.module_utils.layout_index import SOURCE_DIGEST
from ansible_collections.airgap.ecr.plugins.module_utils.layout_index import SOURCE_MEDIA_TYPE
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import ManifestError
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import parse_platform
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import verify_digest

CONTAINERD_NAME = "io.containerd.image.name"


def ref_name(request, image):
    """The image's name in the layout: the request's ``ref_name``, its tag, or ``sha256-<hex>`` of its digest."""
    return (request or {}).get("ref_name") or image.get("tag") or image["image_digest"].replace(":", "-")


def _image_record(resolution, request, image):
    try:
        verify_digest(image["manifest"], image["image_digest"])
    except ManifestError as e:
        raise BundleError(f"{image.get('name')}: {e}") from None
    blobs = [image["config"]] + [layer for layer in image["layers"] if not layer.get("foreign")]
    record = {key: image.get(key) for key in ("name", "repository", "tag", "digest", "registry_id", "media_type")}
    record.update(
        ref_name=ref_name(request, image),
        platform=image.get("platform") or resolution["platform"],
        # The platform of bundle_platforms it was resolved for, which a host's platform is matched with: an index
        # entry may name more (linux/arm64/v8 where linux/arm64 was asked for).
        bundle_platform=resolution["platform"],
        image_digest=image["image_digest"],
        manifest_size=len(image["manifest"].encode("utf-8")),
        blobs=[blob["digest"] for blob in blobs],
    )
    return record, blobs


def contents(resolutions, base):
    """``(images, blobs, platforms)`` of a bundle made of ``resolutions`` (ecr_image_layers results with
    ``platform`` and ``images``, and ``requests``, the images asked for, in the same order)."""
    available = set(base["available"]) if base else set()
    images, blobs, platforms = [], {}, []
    for resolution in resolutions:
        platforms.append(resolution["platform"])
        requests = resolution.get("requests") or []
        for position, image in enumerate(resolution["images"]):
            request = requests[position] if position < len(requests) else None
            record, needed = _image_record(resolution, request, image)
            images.append(record)
            for blob in needed:
                blobs.setdefault(
                    blob["digest"],
                    {
                        "digest": blob["digest"],
                        "size": blob["size"],
                        "media_type": blob.get("media_type"),
                        "in_bundle": blob["digest"] not in available,
                    },
                )
    return images, list(blobs.values()), sorted(set(platforms))


def index_text(images):
    """index.json of the bundle's layout: one entry per image and platform."""
    entries = []
    for image in images:
        platform = {k: v for k, v in parse_platform(image["platform"]).items() if v}
        annotations = {
            REF_NAME: image["ref_name"],
            CONTAINERD_NAME: image["name"],
            SOURCE_DIGEST: image["image_digest"],
            SOURCE_MEDIA_TYPE: image["media_type"],
        }
        entries.append(
            {
                "mediaType": image["media_type"],
                "digest": image["image_digest"],
                "size": image["manifest_size"],
                "annotations": annotations,
                "platform": platform,
            }
        )
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX_TYPE, "manifests": entries}, indent=2) + "\n"


def write(layout, resolutions, images):
    """Write every manifest, ``oci-layout`` and, last, ``index.json``; ``{file: sha256 digest}`` of the two files."""
    for resolution in resolutions:
        for image in resolution["images"]:
            layout.write_blob_text(image["image_digest"], image["manifest"])
    index = index_text(images)
    layout.write_text(OCI_LAYOUT_FILE, OCI_LAYOUT_CONTENT)
    layout.write_text(INDEX_FILE, index)
    return {OCI_LAYOUT_FILE: digest_of(OCI_LAYOUT_CONTENT), INDEX_FILE: digest_of(index)}


def delivered_images(layout, document):
    """The bundle's images with their manifest text read from the layout, for the hosts' layouts."""
    images = []
    for image in document["images"]:
        text = layout.blob_text(image["image_digest"])
        if text is None:
            raise BundleError(f"{layout.blob_path(image['image_digest'])} is missing: the bundle is not complete")
        images.append(dict(image, manifest=text))
    return images
