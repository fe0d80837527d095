# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the downloader checks before its first request: every blob has a source, and they fit on disk.

Both raise ValidationError with a message that says what is wrong and what to do. Runs on target
hosts: standard library only.
"""

from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError


def check_sources(blobs, layout):
    """Before any request: every blob without a URL must already be in the layout, verified.

    Returns the set of digests found present (so they are not read again); raises
    ValidationError naming every blob that has neither.
    """
    present = set()
    problems = []
    for blob in blobs:
        if blob["url"]:
            continue
        try:
            ok = layout.has_blob(blob["digest"], blob["size"])
        except OSError as e:
            path = layout.blob_path(blob["digest"])
            problems.append(f"blobs[{blob['index']}] ({blob['digest']}) has no url, and {path} cannot be read: {e}")
            continue
        if ok:
            present.add(blob["digest"])
        else:
            problems.append(f"blobs[{blob['index']}] ({blob['digest']}) has no url, and is not present in dest")
    if problems:
        raise ValidationError("; ".join(problems) + ": give a url (or download_url) for each blob to download")
    return present


def check_free_space(blobs, layout):
    """Before any request: the blobs of known size still to download must fit in the layout's file system.

    What is already in place and the bytes of a ``.partial`` that can be resumed are not counted.
    Raises ValidationError saying how much is needed and how much is free.
    """
    needed = 0
    for blob in blobs:
        if blob["size"] is None or layout.blob_size(blob["digest"]) == blob["size"]:
            continue
        partial = layout.partial_size(blob["digest"]) or 0
        resumable = partial if layout.read_range_state(blob["digest"]) is None and partial <= blob["size"] else 0
        needed += blob["size"] - resumable
    if not needed:
        return
    free = layout.free_space()
    if needed > free:
        raise ValidationError(
            f"the blobs to download need {needed} bytes, but the file system of {layout.root} has {free} bytes free: "
            "make room, or choose another dest"
        )
