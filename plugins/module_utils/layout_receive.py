# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Blobs that arrive over the host's Ansible connection instead of a download (the blob_receive module).

The blob_sync action plugin asks which blobs a layout already has, verified (``receive_blobs``
with entries that have no ``staged`` file), sends the others as files into Ansible's private
temporary directory on the host, and then has ``receive_blobs`` take each sent copy in: the copy is
opened without following a symlink, hashed while it is written to the blob's ``.partial`` in the
layout (``layout_partial``), and renamed to the blob's final path only when its digest and size
match, under the blob's lock (the lock the downloader takes, so a download and a transfer of the
same blob take turns). A copy that does not match is refused and nothing of it stays in the layout.
The sent copy is removed in every case. Target side: standard library only.
"""

import os
import stat

from ansible_collections.airgap.ecr.plugins.module_utils.digests import CHUNK_SIZE
from ansible_collections.airgap.ecr.plugins.module_utils.digests import format_digest
from ansible_collections.airgap.ecr.plugins.module_utils.digests import matches
from ansible_collections.airgap.ecr.plugins.module_utils.digests import new_hasher
from ansible_collections.airgap.ecr.plugins.module_utils.download_checks import check_free_space
from ansible_collections.airgap.ecr.plugins.module_utils.layout_fs import LayoutError
from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_digest

STATUS_PRESENT = "present"
STATUS_MISSING = "missing"
STATUS_RECEIVED = "received"
STATUS_WOULD_RECEIVE = "would_receive"
STATUS_FAILED = "failed"

# The options that say how the received blob files are created (besides the layout's: LAYOUT_ARGUMENT_SPEC).
FILE_ARGUMENT_SPEC = dict(
    mode=dict(type="raw"),
    owner=dict(type="str"),
    group=dict(type="str"),
)

# O_NONBLOCK: a FIFO planted at the sent copy's name must not hang the open (it is then refused).
_STAGED_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


class ReceiveError(Exception):
    """One blob could not be taken in; the message says why (the other blobs go on)."""


def normalize_entries(entries):
    """Check ``blobs`` (``[{digest, size, staged?}]``) and return them without duplicates; raises ValidationError.

    Every problem is reported at once, with the entry's position, before anything is read or written.
    """
    if not isinstance(entries, list) or not entries:
        raise ValidationError("blobs is empty: give at least one blob, a dict with a digest and a size")
    problems, seen, result = [], {}, []
    for index, entry in enumerate(entries):
        try:
            blob = _checked_entry(index, entry)
        except ValidationError as e:
            problems.append(str(e))
            continue
        known = seen.setdefault(blob["digest"], blob)
        if known is blob:
            result.append(blob)
        elif known["size"] != blob["size"]:
            problems.append(
                f"blobs[{index}].size {blob['size']} differs from the size {known['size']} of the same digest"
            )
    if problems:
        raise ValidationError("; ".join(problems))
    return result


def _checked_entry(index, entry):
    """One entry of ``blobs`` as ``{digest, size, staged, index}``; raises ValidationError naming its position."""
    where = f"blobs[{index}]"
    if not isinstance(entry, dict):
        raise ValidationError(f"{where} must be a dict with a digest and a size, got a {type(entry).__name__}")
    digest = validate_digest(entry.get("digest"), option=f"{where}.digest")
    size = entry.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValidationError(f"{where}.size {size!r} is not a size: give the blob's size in bytes, 0 or more")
    return dict(digest=digest, size=size, staged=entry.get("staged"), index=index)


def blob_state(layout, digest, size, check_mode):
    """``(status, replaced_corrupt)``: present (verified) or missing; a wrong file at the final path is removed.

    In check mode the wrong file is only reported. A symlink or another non-file at the blob's path
    is an error (it is never followed, and never silently replaced).
    """
    kind = layout.blob_kind(digest)
    if kind == "missing":
        return STATUS_MISSING, False
    if kind != "file":
        raise ReceiveError(f"{layout.blob_path(digest)} exists and is not a regular file")
    ok, _actual = layout.verify_blob(digest, size)
    if ok:
        return STATUS_PRESENT, False
    if not check_mode:
        layout.remove_blob(digest)  # nothing unverified stays at a final path
    return STATUS_MISSING, True


def _open_staged(path):
    """The sent copy, open to read: a regular file reached without following a symlink at its name."""
    if not isinstance(path, str) or not os.path.isabs(path):
        raise ReceiveError(f"the sent copy's path {path!r} is not an absolute path")
    try:
        fd = os.open(path, _STAGED_FLAGS)
    except FileNotFoundError:
        raise ReceiveError(f"the sent copy {path} is not there: the transfer did not complete; run again") from None
    except OSError as e:
        raise ReceiveError(f"the sent copy {path} cannot be opened (a symlink, or {e.strerror}): refused") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ReceiveError(f"the sent copy {path} is not a regular file: refused")
    return os.fdopen(fd, "rb")


def _copy_in(layout, digest, size, staged):
    """Copy the sent copy into the blob's ``.partial``, hashing it; ``(bytes, hasher)``, at most ``size + 1`` bytes."""
    hasher, copied = new_hasher(digest), 0
    with _open_staged(staged) as source, layout.open_partial(digest, append=False) as out:
        while copied <= size:
            chunk = source.read(min(CHUNK_SIZE, size + 1 - copied))
            if not chunk:
                break
            hasher.update(chunk)
            out.write(chunk)
            copied += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    return copied, hasher


def take_in(layout, digest, size, staged):
    """Move the sent copy of one blob into the layout once verified; returns ``(status, replaced_corrupt)``.

    Under the blob's lock: a blob that is (now) present is kept as it is; otherwise the copy is
    written to the ``.partial``, checked, and renamed into place, or the ``.partial`` is removed and
    ReceiveError raised.
    """
    with layout.blob_lock(digest):
        status, replaced = blob_state(layout, digest, size, check_mode=False)
        if status == STATUS_PRESENT:
            return status, replaced
        try:
            copied, hasher = _copy_in(layout, digest, size, staged)
        except OSError:
            layout.remove_partial(digest)
            raise
        if copied != size or not matches(hasher, digest):
            layout.remove_partial(digest)
            found = f"more than {size}" if copied > size else str(copied)
            raise ReceiveError(
                f"the copy received has {found} bytes and the digest {format_digest(hasher)}, not {size} bytes and "
                f"{digest}: it was damaged or cut on the way, or the controller's copy is wrong; it is not kept"
            )
        layout.commit_partial(digest)
        layout.remove_range_state(digest)  # a ranged download of the same blob left behind is obsolete now
        return STATUS_RECEIVED, replaced


def _remove_staged(path):
    if isinstance(path, str) and os.path.isabs(path):
        try:
            os.unlink(path)  # the name itself, a symlink too, never what it points to
        except OSError:
            pass


def _one(layout, blob, check_mode):
    """The result entry of one blob: its state, or, when it was sent, the outcome of taking it in."""
    entry = dict(digest=blob["digest"], size=blob["size"], path=layout.blob_path(blob["digest"]))
    try:
        if blob["staged"] and not check_mode:
            entry["status"], entry["replaced_corrupt"] = take_in(layout, blob["digest"], blob["size"], blob["staged"])
        else:
            entry["status"], entry["replaced_corrupt"] = blob_state(layout, blob["digest"], blob["size"], check_mode)
            if blob["staged"] and entry["status"] == STATUS_MISSING:
                entry["status"] = STATUS_WOULD_RECEIVE
    except (ReceiveError, LayoutError, OSError) as e:
        entry.update(status=STATUS_FAILED, replaced_corrupt=False, error=str(e))
    finally:
        _remove_staged(blob["staged"])
    return entry


def receive_blobs(layout, blobs, check_mode=False):
    """The module's result for ``normalize_entries()`` blobs: each one's status, counts, and the failures.

    Blobs without ``staged`` are looked at (present or missing); before the first copy is taken in,
    the missing blobs must fit in the free space of the layout's file system (ValidationError).
    """
    if not check_mode and any(blob["staged"] for blob in blobs):
        check_free_space([blob for blob in blobs if blob["staged"]], layout)
    entries = [_one(layout, blob, check_mode) for blob in blobs]
    counts = {status: sum(1 for e in entries if e["status"] == status) for status in (STATUS_PRESENT, STATUS_MISSING)}
    received = [e for e in entries if e["status"] == STATUS_RECEIVED]
    return dict(
        changed=bool(received) or any(e["replaced_corrupt"] for e in entries) and not check_mode,
        blobs=entries,
        present=counts[STATUS_PRESENT],
        missing=counts[STATUS_MISSING],
        received=len(received),
        bytes_received=sum(e["size"] for e in received),
        free_bytes=layout.free_space(),
        failures=[dict(digest=e["digest"], error=e["error"]) for e in entries if e["status"] == STATUS_FAILED],
    )
