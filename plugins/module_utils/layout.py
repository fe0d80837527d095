# -*- coding: utf-8 -*-

# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The OCI image layout on disk: the one owner of every path under a layout.

``Layout(root)`` knows where a blob, its download in progress (``.partial``) and its lock live,
how a file is written atomically (a unique temporary file in the same directory, fsync, rename,
then fsync of the directory), how directories are created, how ``index.json`` is read and merged,
and how the layout becomes an oci-archive. Nothing else in the collection builds a path under a
layout. Standard library only: this runs on target hosts.
"""

import fcntl
import json
import os
import tarfile
import tempfile
import threading
from contextlib import contextmanager

from ansible_collections.airgap.ecr.plugins.module_utils.digests import digest_of
from ansible_collections.airgap.ecr.plugins.module_utils.digests import hash_stream
from ansible_collections.airgap.ecr.plugins.module_utils.digests import matches
from ansible_collections.airgap.ecr.plugins.module_utils.digests import split_digest

OCI_LAYOUT_FILE = "oci-layout"
OCI_LAYOUT_CONTENT = '{"imageLayoutVersion": "1.0.0"}'
INDEX_FILE = "index.json"
OCI_INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"
# Where a converted manifest keeps the digest and media type it had in the registry.
SOURCE_DIGEST = "io.github.airgap-ecr.source.digest"
SOURCE_MEDIA_TYPE = "io.github.airgap-ecr.source.media-type"

FILE_MODE = 0o644
DIR_MODE = 0o755

_DIR_LOCK = threading.Lock()


class LayoutError(Exception):
    """A layout that cannot be used or written; the message names the path and says why."""


def _remove(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def _fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def ensure_dir(path):
    """Create ``path`` and its missing parents, each with mode 0755 whatever the umask."""
    with _DIR_LOCK:
        missing = []
        current = os.path.abspath(path)
        while not os.path.isdir(current):
            missing.append(current)
            parent = os.path.dirname(current)
            if parent == current:
                break
            current = parent
        for directory in reversed(missing):
            try:
                os.mkdir(directory, DIR_MODE)
            except FileExistsError:
                if not os.path.isdir(directory):
                    raise
                continue
            os.chmod(directory, DIR_MODE)


def _write_atomically(path, data):
    """Write ``data`` (bytes) to ``path`` through a unique temporary file in its directory and a rename."""
    directory = os.path.dirname(path)
    ensure_dir(directory)
    handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".partial", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, path)
        _fsync_dir(directory)
    finally:
        _remove(temporary)


class Layout:
    """An OCI image layout rooted at ``root`` (which need not exist yet)."""

    def __init__(self, root):
        self.root = root

    # ------------------------------------------------------------------ blobs

    def blob_path(self, digest):
        """``<root>/blobs/<algorithm>/<hex>``."""
        algorithm, encoded = split_digest(digest)
        return os.path.join(self.root, "blobs", algorithm, encoded)

    def _side_path(self, digest, suffix):
        algorithm, encoded = split_digest(digest)
        return os.path.join(self.root, "blobs", algorithm, f".{encoded}.{suffix}")

    def blob_size(self, digest):
        """The size of the file at the blob's path, or None when there is none."""
        try:
            return os.path.getsize(self.blob_path(digest))
        except FileNotFoundError:
            return None

    def blob_kind(self, digest):
        """``"missing"``, ``"file"`` (a regular file), or ``"other"`` (something else is at the blob's path)."""
        path = self.blob_path(digest)
        if not os.path.lexists(path):
            return "missing"
        return "file" if os.path.isfile(path) else "other"

    def verify_blob(self, digest, size=None):
        """``(ok, actual_size)``: whether the blob's file has ``digest`` (and ``size``)."""
        path = self.blob_path(digest)
        actual_size = os.path.getsize(path)
        if size is not None and actual_size != size:
            return False, actual_size
        with open(path, "rb") as handle:
            actual_size, hasher = hash_stream(handle, digest)
        return matches(hasher, digest), actual_size

    def has_blob(self, digest, size=None):
        """Whether a verified blob is in place."""
        return self.blob_kind(digest) == "file" and self.verify_blob(digest, size)[0]

    def remove_blob(self, digest):
        _remove(self.blob_path(digest))

    def open_blob(self, digest):
        """The blob's content, a binary file object to read."""
        return open(self.blob_path(digest), "rb")

    def write_blob(self, data):
        """Store ``data`` (bytes) as a blob under its sha256 digest, atomically; returns the digest."""
        digest = digest_of(data)
        _write_atomically(self.blob_path(digest), data)
        return digest

    @contextmanager
    def blob_lock(self, digest):
        """Hold an exclusive lock on this blob (``.<hex>.lock``) for a whole fetch.

        Another run fetching the same blob into the same layout at the same time waits here
        instead of sharing the ``.partial``; once it gets the lock it finds the blob present. The
        lock file is removed by its holder; a waiter that locked a file already removed tries again.
        """
        lock_path = self._side_path(digest, "lock")
        ensure_dir(os.path.dirname(lock_path))
        while True:
            handle = os.open(lock_path, os.O_RDWR | os.O_CREAT, FILE_MODE)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    current = os.stat(lock_path).st_ino == os.fstat(handle).st_ino
                except FileNotFoundError:
                    current = False
            except BaseException:
                os.close(handle)
                raise
            if current:
                break
            os.close(handle)
        try:
            yield
        finally:
            _remove(lock_path)
            os.close(handle)

    # ------------------------------------------------------------------ downloads in progress

    def partial_size(self, digest):
        """The size of the blob's ``.partial`` (a download in progress), or None when there is none."""
        path = self._side_path(digest, "partial")
        return os.path.getsize(path) if os.path.isfile(path) else None

    def hash_partial(self, digest):
        """``(size, hasher)`` of the ``.partial``'s content."""
        with open(self._side_path(digest, "partial"), "rb") as handle:
            return hash_stream(handle, digest)

    def open_partial(self, digest, append):
        """The ``.partial`` as a binary file to write, appended to or truncated."""
        path = self._side_path(digest, "partial")
        ensure_dir(os.path.dirname(path))
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
        return os.fdopen(os.open(path, flags, FILE_MODE), "wb")

    def remove_partial(self, digest):
        _remove(self._side_path(digest, "partial"))

    def commit_partial(self, digest):
        """Move the verified ``.partial`` to the blob's path."""
        partial = self._side_path(digest, "partial")
        os.chmod(partial, FILE_MODE)
        os.replace(partial, self.blob_path(digest))
        _fsync_dir(os.path.dirname(partial))

    # ------------------------------------------------------------------ index.json and oci-layout

    def read_text(self, name):
        """The text of a file at the top of the layout (``index.json``, ``oci-layout``), or None."""
        try:
            with open(os.path.join(self.root, name), encoding="utf-8") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def blob_text(self, digest):
        """A small blob's text (a manifest), or None when it is not there."""
        try:
            with open(self.blob_path(digest), encoding="utf-8") as handle:
                return handle.read()
        except FileNotFoundError:
            return None

    def write_text(self, name, text):
        """Write a file at the top of the layout atomically."""
        _write_atomically(os.path.join(self.root, name), text.encode("utf-8"))

    def write_blob_text(self, digest, text):
        """Write a small blob (a manifest) whose digest the caller computed, atomically."""
        _write_atomically(self.blob_path(digest), text.encode("utf-8"))

    def path_of(self, name):
        """The path of a file at the top of the layout, for messages and results."""
        return os.path.join(self.root, name)

    # ------------------------------------------------------------------ archive

    def members(self):
        """The files an archive of the layout holds: oci-layout, index.json and every blob, sorted."""
        members = [OCI_LAYOUT_FILE, INDEX_FILE]
        blobs_root = os.path.join(self.root, "blobs")
        for algorithm in sorted(os.listdir(blobs_root)) if os.path.isdir(blobs_root) else []:
            directory = os.path.join(blobs_root, algorithm)
            for name in sorted(os.listdir(directory)):
                if not name.startswith("."):
                    members.append(f"blobs/{algorithm}/{name}")
        return members

    def archive_matches(self, archive):
        """Whether ``archive`` already holds exactly the layout's files, with the same sizes and index.json.

        Blobs are content-addressed and verified, so a name and size match means the same bytes;
        index.json and oci-layout are compared byte for byte.
        """
        if not os.path.isfile(archive):
            return False
        wanted = {name: os.path.getsize(os.path.join(self.root, name)) for name in self.members()}
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
        return all(self.read_text(name).encode("utf-8") == data for name, data in small.items())

    def write_archive(self, archive):
        """Write the layout as an uncompressed tar (an ``oci-archive``), atomically and reproducibly."""
        directory = os.path.dirname(os.path.abspath(archive))
        temporary = os.path.join(directory, f".{os.path.basename(archive)}.partial")
        try:
            with tarfile.open(temporary, "w", format=tarfile.PAX_FORMAT) as tar:
                added = set()
                for name in self.members():
                    parts = name.split("/")
                    for depth in range(1, len(parts)):
                        folder = "/".join(parts[:depth])
                        if folder not in added:
                            tar.addfile(_normalised(tar.gettarinfo(os.path.join(self.root, folder), arcname=folder)))
                            added.add(folder)
                    info = _normalised(tar.gettarinfo(os.path.join(self.root, name), arcname=name))
                    with open(os.path.join(self.root, name), "rb") as handle:
                        tar.addfile(info, handle)
            with open(temporary, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(temporary, archive)
        finally:
            _remove(temporary)

    # ------------------------------------------------------------------ ranged downloads (download_ranges.py)

    def open_partial_rw(self, digest):
        """The ``.partial`` as a binary file to read and write at any offset, created if missing, never truncated.

        A ranged download writes its parts in place into it, each through a handle of its own.
        """
        path = self._side_path(digest, "partial")
        ensure_dir(os.path.dirname(path))
        return os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, FILE_MODE), "r+b")

    def read_range_state(self, digest):
        """The text of the blob's ``.<hex>.ranges`` (which parts of a ranged download are complete), or None."""
        try:
            fd = os.open(self._side_path(digest, "ranges"), os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            return None
        with os.fdopen(fd, encoding="utf-8") as handle:
            return handle.read()

    def write_range_state(self, digest, text):
        """Replace the blob's ``.<hex>.ranges`` atomically."""
        _write_atomically(self._side_path(digest, "ranges"), text.encode("utf-8"))

    def remove_range_state(self, digest):
        _remove(self._side_path(digest, "ranges"))

    def free_space(self):
        """The bytes an unprivileged writer may still use on the file system that holds (or will hold) the layout."""
        current = os.path.abspath(self.root)
        while not os.path.isdir(current) and os.path.dirname(current) != current:
            current = os.path.dirname(current)
        info = os.statvfs(current)
        return info.f_bavail * info.f_frsize


def _normalised(info):
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mtime = 0
    info.mode = 0o755 if info.isdir() else 0o644
    return info


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
