# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Making a bundle on the controller: where it is built, what it holds, its files, the rename that publishes it.

A bundle is built in a hidden directory next to its destination (``.<name>.partial``): the blobs are
downloaded there (by ``blob_fetch``, verified and resumable, so an interrupted run goes on where it
stopped), then ``pack`` writes the manifests, ``index.json``, the description, the summary and the
checksum list, cuts the parts, and renames the directory to its destination. A bundle directory
that exists is therefore complete. Standard library only.
"""

import os
import shutil
import stat

from ansible_collections.airgap.ecr.plugins.module_utils import bundle_format as fmt
from ansible_collections.airgap.ecr.plugins.module_utils import bundle_layout
from ansible_collections.airgap.ecr.plugins.module_utils import bundle_parts
from ansible_collections.airgap.ecr.plugins.module_utils.bundle_format import BundleError
from ansible_collections.airgap.ecr.plugins.module_utils.bundle_read import read_bundle
from ansible_collections.airgap.ecr.plugins.module_utils.layout import Layout


def staging_dir(dest):
    """The hidden directory next to ``dest`` a bundle is built in."""
    dest = os.path.abspath(dest)
    return os.path.join(os.path.dirname(dest), f".{os.path.basename(dest)}.partial")


def _own_dir(path, create):
    """Check (or create, mode 0700) a directory that is ours: a real directory, not a symlink, owned by us."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        if not create:
            return False
        os.mkdir(path, 0o700)
        return True
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise BundleError(f"{path} is not a directory of this user (a symlink or another owner's): move it away")
    return True


def base_of(since):
    """None, or ``{id, name, created, available}`` of the bundle at ``since`` (its description checked)."""
    if not since:
        return None
    document = read_bundle(since)
    return {
        "id": document["id"],
        "name": os.path.basename(os.path.abspath(since)),
        "created": document.get("created"),
        "available": document["available"],
    }


def plan(dest, since=None):
    """Before anything is resolved: where the bundle is built, and what its base holds.

    Refuses a destination that exists and a parent directory that does not; ``base`` is ``base_of(since)``.
    """
    dest = os.path.abspath(dest)
    if os.path.lexists(dest):
        raise BundleError(f"bundle_dest {dest} exists: a bundle is never overwritten; choose a new directory")
    if not os.path.isdir(os.path.dirname(dest)):
        raise BundleError(f"the directory of bundle_dest {dest} does not exist: create it first")
    base = base_of(since)
    staging = staging_dir(dest)
    _own_dir(staging, create=True)
    return {"staging": staging, "layout": os.path.join(staging, fmt.LAYOUT_DIR), "base": base}


def _check_blobs(layout, blobs):
    for blob in blobs:
        if blob["in_bundle"] and not layout.has_blob(blob["digest"], blob["size"]):
            raise BundleError(
                f"{layout.blob_path(blob['digest'])} is missing or does not have the digest {blob['digest']}: "
                "download the blobs into the bundle first (airgap.ecr.blob_fetch)"
            )


def _prune(layout_dir, keep):
    """Remove what an earlier, different attempt left in the staging layout's blob store: the bundle is ``keep``."""
    blobs = os.path.join(layout_dir, "blobs")
    for algorithm in os.listdir(blobs) if os.path.isdir(blobs) else ():
        directory = os.path.join(blobs, algorithm)
        for name in os.listdir(directory) if not os.path.islink(directory) else ():
            if f"{algorithm}:{name}" not in keep:
                os.remove(os.path.join(directory, name))


def _write_top(staging, name, text):
    path = os.path.join(staging, name)
    with open(path + ".tmp", "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(path + ".tmp", path)


def _finish(staging, dest, document):
    """Write bundle.json, SUMMARY.txt and SHA256SUMS (last), then rename the directory into place."""
    _write_top(staging, fmt.BUNDLE_FILE, fmt.dumps(document))
    _write_top(staging, fmt.SUMMARY_FILE, fmt.summary_text(document))
    _write_top(staging, fmt.SUMS_FILE, fmt.sums_text(bundle_parts.hash_tree(staging, exclude=(fmt.SUMS_FILE,))))
    os.chmod(staging, 0o755)
    if os.path.lexists(dest):
        raise BundleError(f"bundle_dest {dest} appeared while the bundle was made: the bundle is left at {staging}")
    os.rename(staging, dest)


def pack(dest, resolutions, since=None, part_size=None, created=None):
    """Turn the staging directory of ``dest`` (its blobs in place) into the bundle at ``dest``; its description."""
    dest = os.path.abspath(dest)
    staging = staging_dir(dest)
    if not _own_dir(staging, create=False):
        raise BundleError(f"{staging} does not exist: plan the bundle and download its blobs first")
    base = base_of(since)
    images, blobs, platforms = bundle_layout.contents(resolutions, base)
    document = fmt.describe(created, base, platforms, images, blobs)
    layout = Layout(os.path.join(staging, fmt.LAYOUT_DIR), strict_modes=False)
    _prune(layout.root, {image["image_digest"] for image in images} | {b["digest"] for b in blobs if b["in_bundle"]})
    try:
        _check_blobs(layout, blobs)
        document["layout_files"] = bundle_layout.write(layout, resolutions, images)
    finally:
        layout.close()
    shutil.rmtree(os.path.join(staging, fmt.PARTS_DIR), ignore_errors=True)  # of an interrupted run
    if part_size:
        document["parts"] = bundle_parts.split(staging, part_size)
        shutil.rmtree(os.path.join(staging, fmt.LAYOUT_DIR))
    _finish(staging, dest, document)
    return document
