# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OCI layouts of the test images, written by the real oci_layout module, as the image_fetch role leaves them.

The blobs are put in place first (as blob_fetch or a download would), then ``oci_layout`` runs through its
module entry point without ``blobs`` (it keeps a converted Docker schema 2 manifest's exact bytes as a blob).
Each index entry then gets its full name (``io.containerd.image.name``), as the image-set layout names it.
"""

import hashlib
import json
import os

from ansible_collections.airgap.ecr.plugins.module_utils.digests import digest_of
from ansible_collections.airgap.ecr.plugins.modules import oci_layout
from ansible_collections.airgap.ecr.tests.support.modules import run_module

CONTAINERD_NAME = "io.containerd.image.name"


def _put_blob(dest, data):
    directory = os.path.join(dest, "blobs", "sha256")
    os.makedirs(directory, mode=0o755, exist_ok=True)
    with open(os.path.join(directory, digest_of(data).split(":")[1]), "wb") as handle:
        handle.write(data)


def write_layout(dest, images, names=None):
    """Write ``images`` (BuiltImages) into the layout ``dest``; ``names``: the full name of each (default its own)."""
    for position, image in enumerate(images):
        for data in image.blobs.values():
            _put_blob(dest, data)
        ref_name = f"{image.tag}-{position}"
        failed, result = run_module(
            oci_layout.main,
            dest=dest,
            manifest=image.manifest.decode(),
            media_type=image.flavour["manifest"],
            source_digest=image.digest,
            ref_name=ref_name,
            platform="linux/amd64",
        )
        assert not failed, result
        name = (names or {}).get(image.name, image.name)
        path = os.path.join(dest, "index.json")
        with open(path, encoding="utf-8") as handle:
            index = json.load(handle)
        for entry in index["manifests"]:
            if entry["annotations"]["org.opencontainers.image.ref.name"] == ref_name:
                entry["annotations"][CONTAINERD_NAME] = name
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(index, handle, indent=2)
    return dest


def tree_digest(dest):
    """One digest of every file name and content under ``dest``: equal before and after means untouched."""
    hasher = hashlib.sha256()
    for root, dirs, files in os.walk(dest):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            hasher.update(path.encode() + b"\0")
            with open(path, "rb") as handle:
                hasher.update(hashlib.sha256(handle.read()).digest())
    return hasher.hexdigest()
