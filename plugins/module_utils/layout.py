# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The OCI image layout on disk: the one owner of every path under a layout.

``Layout(root)`` knows where a blob, its download in progress (``.partial``) and its lock live,
how a file is written atomically, how directories are created, how ``index.json`` is read and
merged under the layout lock, and how the layout becomes an oci-archive (``layout_archive.py``).
Every path is reached through directory descriptors and never through a symlink, and a layout
another user could change is refused unless ``strict_modes=False`` (``layout_fs.py``). Nothing else
in the collection builds a path under a layout. Standard library only: this runs on target hosts.
"""

import os
import stat
import threading
from contextlib import contextmanager

from ansible_collections.airgap.ecr.plugins.module_utils import layout_archive
from ansible_collections.airgap.ecr.plugins.module_utils import layout_fs as fs
from ansible_collections.airgap.ecr.plugins.module_utils.digests import digest_of
from ansible_collections.airgap.ecr.plugins.module_utils.digests import hash_stream
from ansible_collections.airgap.ecr.plugins.module_utils.digests import matches
from ansible_collections.airgap.ecr.plugins.module_utils.digests import split_digest
from ansible_collections.airgap.ecr.plugins.module_utils.layout_fs import LayoutError
from ansible_collections.airgap.ecr.plugins.module_utils.layout_index import FULL_NAME
from ansible_collections.airgap.ecr.plugins.module_utils.layout_index import OCI_INDEX_TYPE
from ansible_collections.airgap.ecr.plugins.module_utils.layout_index import REF_NAME
from ansible_collections.airgap.ecr.plugins.module_utils.layout_index import SOURCE_DIGEST
from ansible_collections.airgap.ecr.plugins.module_utils.layout_index import SOURCE_MEDIA_TYPE
from ansible_collections.airgap.ecr.plugins.module_utils.layout_index import index_entry
from ansible_collections.airgap.ecr.plugins.module_utils.layout_index import merged_index
from ansible_collections.airgap.ecr.plugins.module_utils.layout_partial import PartialFiles
from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_digest

OCI_LAYOUT_FILE = layout_archive.OCI_LAYOUT_FILE
OCI_LAYOUT_CONTENT = '{"imageLayoutVersion": "1.0.0"}'
INDEX_FILE = layout_archive.INDEX_FILE

__all__ = [
    "Layout",
    "LayoutError",
    "layout_from_params",
    "LAYOUT_ARGUMENT_SPEC",
    "index_entry",
    "merged_index",
    "OCI_INDEX_TYPE",
    "FULL_NAME",
    "REF_NAME",
    "SOURCE_DIGEST",
    "SOURCE_MEDIA_TYPE",
]

# The options of the target modules that say how a layout is trusted and created (the
# airgap.ecr.layout doc fragment); mode, owner and group are Ansible's file options.
LAYOUT_ARGUMENT_SPEC = dict(
    strict_modes=dict(type="bool", default=True),
    dir_mode=dict(type="raw"),
)


def layout_from_params(params):
    """The ``Layout`` of a target module's ``dest``, ``strict_modes``, ``dir_mode``, ``mode``, ``owner``, ``group``."""
    return Layout(
        params["dest"],
        strict_modes=params.get("strict_modes", True),
        file_mode=fs.octal_mode(params.get("mode"), "mode"),
        dir_mode=fs.octal_mode(params.get("dir_mode"), "dir_mode"),
        owner=params.get("owner"),
        group=params.get("group"),
    )


class Layout(PartialFiles):
    """An OCI image layout rooted at ``root`` (which need not exist yet).

    ``strict_modes``: refuse directories that are owned by another user than root, the caller and
    ``owner``, or writable by group or others. ``file_mode``/``dir_mode`` (ints) and ``owner``/``group``
    (names or ids) are given to the files and directories this layout creates; without them the
    umask decides, and nothing that exists already is changed.
    """

    def __init__(self, root, strict_modes=True, file_mode=None, dir_mode=None, owner=None, group=None):
        self.root = root
        self.policy = fs.Policy(strict_modes, file_mode, dir_mode, fs.user_id(owner), fs.user_id(group, "group"))
        self._locks = fs.Locks()  # blob locks by digest, the layout lock as ""
        self._guard = threading.Lock()
        self._fds = {}  # directory descriptors, opened (and checked) once: names under the root -> fd

    def close(self):
        """Close the directory descriptors this layout holds (it opens them again when used again)."""
        with self._guard:
            fds, self._fds = self._fds, {}
        for fd in fds.values():
            os.close(fd)

    def __del__(self):
        for fd in getattr(self, "_fds", {}).values():
            os.close(fd)

    @contextmanager
    def _dir(self, names=(), create=False):
        """The descriptor of the directory ``names`` under the root (None when missing and not ``create``).

        The root is walked and checked by the directory rule once (``layout_fs.open_dir``); the
        directories under it are opened relative to it, never through a symlink, and kept open.
        """
        with self._guard:
            if () not in self._fds:
                root_fd = fs.open_dir(self.root, self.policy, create=create)
                if root_fd is not None:
                    self._fds[()] = root_fd
            fd = self._fds.get(names)
            if fd is None and () in self._fds:
                fd = fs.open_subdir(self._fds[()], self.root, names, self.policy, create=create)
                if fd is not None:
                    self._fds[names] = fd
        yield fd

    def check(self):
        """Refuse, before any download, a layout whose directories break the directory rule (raises LayoutError)."""
        with self._dir(("blobs",)) as blobs_fd:
            for algorithm in os.listdir(blobs_fd) if blobs_fd is not None else ():
                if not algorithm.startswith(".") and stat.S_ISDIR(fs.lstat(blobs_fd, algorithm).st_mode):
                    os.close(fs.open_subdir(blobs_fd, os.path.join(self.root, "blobs"), (algorithm,), self.policy))
        return self

    # ------------------------------------------------------------------ locations

    def _name(self, digest):
        """``(("blobs", algorithm), hex)`` of a well-formed digest; anything else is refused before it is a path."""
        try:
            validate_digest(digest, option="blob digest")
        except ValidationError as e:
            raise LayoutError(f"{e}: it is not used as a path under {self.root}") from None
        algorithm, encoded = split_digest(digest)
        return ("blobs", algorithm), encoded

    def _blob_dir(self, digest, create=False):
        names, _encoded = self._name(digest)
        return self._dir(names, create=create)

    def blob_path(self, digest):
        """``<root>/blobs/<algorithm>/<hex>``."""
        names, encoded = self._name(digest)
        return os.path.join(self.root, *names, encoded)

    def _side(self, digest, suffix):
        names, encoded = self._name(digest)
        name = f".{encoded}.{suffix}"
        return name, os.path.join(self.root, *names, name)

    def path_of(self, name):
        """The path of a file at the top of the layout, for messages and results."""
        return os.path.join(self.root, name)

    # ------------------------------------------------------------------ blobs

    def _blob_stat(self, digest):
        with self._blob_dir(digest) as dir_fd:
            return fs.lstat(dir_fd, self._name(digest)[1])

    def blob_size(self, digest):
        """The size of the blob's regular file, or None when there is none."""
        info = self._blob_stat(digest)
        return info.st_size if info is not None and stat.S_ISREG(info.st_mode) else None

    def blob_kind(self, digest):
        """``"missing"``, ``"file"`` (a regular file), or ``"other"`` (anything else, a symlink too)."""
        info = self._blob_stat(digest)
        if info is None:
            return "missing"
        return "file" if stat.S_ISREG(info.st_mode) else "other"

    def verify_blob(self, digest, size=None):
        """``(ok, actual_size)``: whether the blob's file has ``digest`` (and ``size``), read through one descriptor.

        A file with the right digest but another size than ``size`` is not wrong, the size is: that
        raises a LayoutError, and the file is kept. A file that is gone gives ``(False, None)``.
        """
        with self._blob_dir(digest) as dir_fd:
            if dir_fd is None:
                return False, None
            try:
                fd = fs.open_file(dir_fd, self._name(digest)[1], self.blob_path(digest))
            except FileNotFoundError:
                return False, None
        with os.fdopen(fd, "rb") as handle:
            actual_size, hasher = hash_stream(handle, digest)
        if not matches(hasher, digest):
            return False, actual_size
        if size is not None and actual_size != size:
            raise LayoutError(
                f"{self.blob_path(digest)} has the digest {digest} and {actual_size} bytes, but the request says "
                f"{size} bytes: "
                "the size given for this blob is wrong (the blob is kept); correct the size"
            )
        return True, actual_size

    def has_blob(self, digest, size=None):
        """Whether a verified blob is in place."""
        return self.blob_kind(digest) == "file" and self.verify_blob(digest, size)[0]

    def remove_blob(self, digest):
        """Remove the blob's file unless its content has ``digest``: checked and removed under the blob's lock.

        So a run that found a corrupt file never removes the good one another run has just put in
        its place; a symlink or other non-file at the blob's path is removed (never followed).
        """
        with self.blob_lock(digest), self._blob_dir(digest) as dir_fd:
            encoded = self._name(digest)[1]
            info = fs.lstat(dir_fd, encoded)
            if info is None:
                return
            if stat.S_ISREG(info.st_mode):
                try:
                    fd = fs.open_file(dir_fd, encoded, self.blob_path(digest))
                except FileNotFoundError:
                    return
                with os.fdopen(fd, "rb") as handle:
                    info = os.fstat(fd)
                    if matches(hash_stream(handle, digest)[1], digest):
                        return
            if fs.same_file(info, fs.lstat(dir_fd, encoded)):
                fs.remove(dir_fd, encoded)
                fs.fsync_dir(dir_fd)

    def open_blob(self, digest):
        """The blob's content, a binary file object to read (never through a symlink)."""
        with self._blob_dir(digest) as dir_fd:
            if dir_fd is None:
                raise FileNotFoundError(f"{self.blob_path(digest)} does not exist")
            return os.fdopen(fs.open_file(dir_fd, self._name(digest)[1], self.blob_path(digest)), "rb")

    def write_blob(self, data):
        """Store ``data`` (bytes) as a blob under its sha256 digest, atomically; returns the digest."""
        digest = digest_of(data)
        self._write_blob(digest, data)
        return digest

    def write_blob_text(self, digest, text):
        """Write a small blob (a manifest) whose digest the caller computed, atomically; the digest is checked."""
        data = text.encode("utf-8")
        if digest_of(data, self._name(digest)[0][1]) != digest:
            raise LayoutError(f"the text given for {self.blob_path(digest)} does not have the digest {digest}")
        self._write_blob(digest, data)

    def _write_blob(self, digest, data):
        names, encoded = self._name(digest)
        with self._blob_dir(digest, create=True) as dir_fd:
            fs.atomic_write(dir_fd, os.path.join(self.root, *names), encoded, lambda out: out.write(data), self.policy)

    def blob_text(self, digest):
        """A small blob's text (a manifest), or None when it is not there."""
        with self._blob_dir(digest) as dir_fd:
            return self._read_text(dir_fd, self._name(digest)[1], self.blob_path(digest))

    @contextmanager
    def blob_lock(self, digest):
        """Hold an exclusive lock on this blob (``.<hex>.lock``) for a whole fetch.

        Another run fetching the same blob into the same layout at the same time waits here
        instead of sharing the ``.partial``; once it gets the lock it finds the blob present. The
        lock file is removed by its holder; a waiter that locked a file already removed tries again.
        """
        name, path = self._side(digest, "lock")
        with self._blob_dir(digest, create=True) as dir_fd:
            while True:
                try:
                    with self._locks.hold(digest, dir_fd, name, path):
                        yield
                    return
                except fs.StaleLock:
                    continue

    @contextmanager
    def locked(self):
        """Hold the layout lock (a ``flock`` on the root directory) while ``index.json`` and archives are written.

        Two runs adding different names to one layout take turns, so no update is lost.
        """
        with self._dir(create=True) as root_fd, self._locks.hold("", root_fd):
            yield

    # ------------------------------------------------------------------ index.json and oci-layout

    def _read_text(self, dir_fd, name, path):
        if dir_fd is None:
            return None
        try:
            fd = fs.open_file(dir_fd, name, path)
        except FileNotFoundError:
            return None
        with os.fdopen(fd, "rb") as handle:
            data = handle.read()
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise LayoutError(
                f"{path} is not UTF-8 text: it was not written by an OCI tool; move it away or repair it"
            ) from None

    def read_text(self, name):
        """The text of a file at the top of the layout (``index.json``, ``oci-layout``), or None."""
        with self._dir() as root_fd:
            return self._read_text(root_fd, name, self.path_of(name))

    def write_text(self, name, text):
        """Write a file at the top of the layout atomically."""
        data = text.encode("utf-8")
        with self._dir(create=True) as root_fd:
            fs.atomic_write(root_fd, self.root, name, lambda out: out.write(data), self.policy)

    def converge(self, digests, names, archive=None, check_mode=False):
        """Give existing blobs, top-level files and the archive the mode, owner and group asked; True if any changed."""
        if not self.policy.sets_attributes():
            return False
        changed = False
        for digest in digests:
            with self._blob_dir(digest) as dir_fd:
                changed = (
                    fs.converge(dir_fd, self._name(digest)[1], self.blob_path(digest), self.policy, check_mode)
                    or changed
                )
        with self._dir() as root_fd:
            for name in names:
                changed = fs.converge(root_fd, name, self.path_of(name), self.policy, check_mode) or changed
        if archive:
            changed = layout_archive.converge(archive, self.policy, check_mode) or changed
        return changed

    # ------------------------------------------------------------------ archive

    def members(self):
        """The files an archive of the layout holds: oci-layout, index.json and every blob, sorted."""
        with self._dir() as root_fd:
            return [name for name, _size in layout_archive.member_files(root_fd, self.root, self.policy)]

    def archive_matches(self, archive):
        """Whether ``archive`` holds, byte for byte, what ``write_archive`` would write now (see layout_archive)."""
        with self._dir() as root_fd:
            if root_fd is None:
                return False
            return layout_archive.archive_matches(root_fd, self.root, archive, self.policy)

    def write_archive(self, archive):
        """Write the layout as an uncompressed tar (an ``oci-archive``), atomically, under the layout lock."""
        with self.locked(), self._dir() as root_fd:
            layout_archive.write_archive(root_fd, self.root, archive, self.policy)
