# -*- coding: utf-8 -*-

# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""OCI image layouts: Docker -> OCI manifest conversion, index.json, and the oci-archive tar.

Pure functions on text and files; stdlib only, so that it runs on target hosts.
"""

import json
import os
import tarfile

from ansible_collections.airgap.ecr.plugins.module_utils.manifest import DOCKER_MANIFEST
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import OCI_MANIFEST
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import ManifestError
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import digest_of
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import parse_manifest

OCI_LAYOUT_FILE = "oci-layout"
OCI_LAYOUT_CONTENT = '{"imageLayoutVersion": "1.0.0"}'
INDEX_FILE = "index.json"
OCI_INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"
# Where a converted manifest keeps the digest and media type it had in the registry.
SOURCE_DIGEST = "io.github.airgap-ecr.source.digest"
SOURCE_MEDIA_TYPE = "io.github.airgap-ecr.source.media-type"

DOCKER_TO_OCI = {
    "application/vnd.docker.container.image.v1+json": "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
}


def _oci_descriptor(descriptor, where):
    media_type = descriptor.get("mediaType")
    if media_type not in DOCKER_TO_OCI:
        raise ManifestError(f"{where} has the media type {media_type!r}, which has no OCI equivalent here")
    converted = {"mediaType": DOCKER_TO_OCI[media_type], "digest": descriptor["digest"], "size": descriptor["size"]}
    if descriptor.get("urls"):
        converted["urls"] = list(descriptor["urls"])
    return converted


def to_oci_manifest(text, media_type=None):
    """An image manifest in OCI media types: ``(text, media_type)``.

    An OCI manifest is returned unchanged (byte for byte). A Docker v2 schema 2 manifest is
    rewritten with the OCI media types of its config and layers; the blobs, their digests
    and sizes are unchanged, so only the manifest (and so its digest) is new. The output
    is deterministic: the same input always gives the same bytes.
    """
    parsed = parse_manifest(text, media_type)
    if parsed["kind"] != "image":
        raise ManifestError("an image manifest is needed here, not an index")
    if parsed["media_type"] == OCI_MANIFEST:
        return text, OCI_MANIFEST
    if parsed["media_type"] != DOCKER_MANIFEST:
        raise ManifestError(f"cannot convert a manifest of media type {parsed['media_type']!r}")
    document = json.loads(text)
    converted = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": _oci_descriptor(document["config"], "the config"),
        "layers": [_oci_descriptor(layer, f"layers[{i}]") for i, layer in enumerate(document["layers"])],
    }
    return json.dumps(converted, indent=2) + "\n", OCI_MANIFEST


def index_entry(manifest_text, media_type, ref_name, platform=None, source_digest=None, source_media_type=None):
    """The index.json descriptor of a manifest, named ``ref_name``."""
    annotations = {REF_NAME: ref_name}
    if source_digest and source_digest != digest_of(manifest_text):
        annotations[SOURCE_DIGEST] = source_digest
        annotations[SOURCE_MEDIA_TYPE] = source_media_type
    entry = {
        "mediaType": media_type,
        "digest": digest_of(manifest_text),
        "size": len(manifest_text.encode("utf-8")),
        "annotations": annotations,
    }
    if platform:
        entry["platform"] = platform
    return entry


def merged_index(existing_text, entry):
    """index.json text with ``entry`` replacing any entry of the same ref name; other entries kept in order."""
    manifests = []
    if existing_text:
        try:
            existing = json.loads(existing_text)
            manifests = [m for m in existing.get("manifests", []) if isinstance(m, dict)]
        except ValueError:
            manifests = []
    name = entry["annotations"][REF_NAME]
    kept = [m for m in manifests if (m.get("annotations") or {}).get(REF_NAME) != name]
    document = {"schemaVersion": 2, "mediaType": OCI_INDEX_TYPE, "manifests": kept + [entry]}
    return json.dumps(document, indent=2) + "\n"


def layout_members(root):
    """The files of the layout that an archive holds: oci-layout, index.json and every blob, sorted."""
    members = [OCI_LAYOUT_FILE, INDEX_FILE]
    blobs_root = os.path.join(root, "blobs")
    for algorithm in sorted(os.listdir(blobs_root)) if os.path.isdir(blobs_root) else []:
        directory = os.path.join(blobs_root, algorithm)
        for name in sorted(os.listdir(directory)):
            if not name.startswith("."):
                members.append(f"blobs/{algorithm}/{name}")
    return members


def archive_matches(archive, root):
    """Whether ``archive`` already holds exactly the layout's files, with the same sizes and index.json.

    Blobs are content-addressed and verified, so a name and size match means the same bytes;
    index.json and oci-layout are compared byte for byte.
    """
    if not os.path.isfile(archive):
        return False
    wanted = {name: os.path.getsize(os.path.join(root, name)) for name in layout_members(root)}
    try:
        with tarfile.open(archive, "r:") as tar:
            found = {}
            small = {}
            for info in tar:
                if info.isfile():
                    found[info.name] = info.size
                    if info.name in (INDEX_FILE, OCI_LAYOUT_FILE):
                        small[info.name] = tar.extractfile(info).read()
    except (tarfile.TarError, OSError):
        return False
    if found != wanted:
        return False
    for name, data in small.items():
        with open(os.path.join(root, name), "rb") as handle:
            if handle.read() != data:
                return False
    return True


def _normalised(info):
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    info.mode = 0o755 if info.isdir() else 0o644
    return info


def write_archive(archive, root):
    """Write the layout as an uncompressed tar (an ``oci-archive``), atomically and reproducibly."""
    directory = os.path.dirname(os.path.abspath(archive))
    temporary = os.path.join(directory, f".{os.path.basename(archive)}.partial")
    try:
        with tarfile.open(temporary, "w", format=tarfile.PAX_FORMAT) as tar:
            added = set()
            for name in layout_members(root):
                parts = name.split("/")
                for depth in range(1, len(parts)):
                    folder = "/".join(parts[:depth])
                    if folder not in added:
                        tar.addfile(_normalised(tar.gettarinfo(os.path.join(root, folder), arcname=folder)))
                        added.add(folder)
                info = _normalised(tar.gettarinfo(os.path.join(root, name), arcname=name))
                with open(os.path.join(root, name), "rb") as handle:
                    tar.addfile(info, handle)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, archive)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
