# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The layout's downloads in progress: a blob's ``.<hex>.partial`` and, for a ranged download, its ``.<hex>.ranges``.

Part of the layout owner: ``Layout`` (``layout.py``) takes these methods from ``PartialFiles``, which
uses its directory descriptors (``_blob_dir``), names (``_side``, ``_name``) and policy. Every file is
opened relative to its directory's descriptor, never through a symlink (``layout_fs``). Target side:
standard library only.
"""

import os
import stat
from contextlib import contextmanager

from ansible_collections.airgap.ecr.plugins.module_utils import layout_fs as fs
from ansible_collections.airgap.ecr.plugins.module_utils.digests import hash_stream


class PartialFiles:
    """The ``.partial`` and ``.ranges`` files of ``Layout`` (a mixin: it has no state of its own)."""

    def partial_size(self, digest):
        """The size of the blob's ``.partial`` (a download in progress), or None when there is none."""
        name, _path = self._side(digest, "partial")
        with self._blob_dir(digest) as dir_fd:
            info = fs.lstat(dir_fd, name)
        return info.st_size if info is not None and stat.S_ISREG(info.st_mode) else None

    def hash_partial(self, digest):
        """``(size, hasher)`` of the ``.partial``'s content."""
        with self._open_partial(digest, os.O_RDONLY) as handle:
            return hash_stream(handle, digest)

    @contextmanager
    def _open_partial(self, digest, flags, mode="rb"):
        name, path = self._side(digest, "partial")
        with self._blob_dir(digest, create=flags != os.O_RDONLY) as dir_fd:
            if dir_fd is None:
                raise FileNotFoundError(f"{path} does not exist")
            fd = fs.open_file(dir_fd, name, path, flags, self.policy.new_file_mode())
        with os.fdopen(fd, mode) as handle:
            yield handle

    def open_partial(self, digest, append):
        """The ``.partial`` as a binary file to write, appended to or truncated (never through a symlink)."""
        name, path = self._side(digest, "partial")
        flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
        with self._blob_dir(digest, create=True) as dir_fd:
            return os.fdopen(fs.open_file(dir_fd, name, path, flags, self.policy.new_file_mode()), "wb")

    def remove_partial(self, digest):
        name, _path = self._side(digest, "partial")
        with self._blob_dir(digest) as dir_fd:
            if dir_fd is not None:
                fs.remove(dir_fd, name)

    def commit_partial(self, digest):
        """Move the verified ``.partial`` (fsynced by its writer) to the blob's path, mode and owner set by fd."""
        name, path = self._side(digest, "partial")
        with self._blob_dir(digest) as dir_fd:
            if dir_fd is None:
                raise FileNotFoundError(f"{path} does not exist")
            fd = fs.open_file(dir_fd, name, path)
            try:
                fs.rename_into_place(
                    fd, dir_fd, name, self._name(digest)[1], self.blob_path(digest), self.policy, sync=False
                )
            finally:
                os.close(fd)

    # ------------------------------------------------------------------ ranged downloads (download_ranges.py)

    def open_partial_rw(self, digest):
        """The ``.partial`` to read and write at any offset, created if missing, never truncated.

        A ranged download writes its parts in place into it, each through a handle of its own.
        """
        name, path = self._side(digest, "partial")
        flags = os.O_RDWR | os.O_CREAT
        with self._blob_dir(digest, create=True) as dir_fd:
            return os.fdopen(fs.open_file(dir_fd, name, path, flags, self.policy.new_file_mode()), "r+b")

    def read_range_state(self, digest):
        """The text of the blob's ``.<hex>.ranges`` (which parts of a ranged download are complete), or None."""
        name, path = self._side(digest, "ranges")
        with self._blob_dir(digest) as dir_fd:
            return self._read_text(dir_fd, name, path)

    def write_range_state(self, digest, text):
        """Replace the blob's ``.<hex>.ranges`` atomically."""
        name, _path = self._side(digest, "ranges")
        names, _encoded = self._name(digest)
        data = text.encode("utf-8")
        with self._blob_dir(digest, create=True) as dir_fd:
            fs.atomic_write(dir_fd, os.path.join(self.root, *names), name, lambda out: out.write(data), self.policy)

    def remove_range_state(self, digest):
        name, _path = self._side(digest, "ranges")
        with self._blob_dir(digest) as dir_fd:
            if dir_fd is not None:
                fs.remove(dir_fd, name)

    def free_space(self):
        """The bytes an unprivileged writer may still use on the file system that holds (or will hold) the layout."""
        current = os.path.abspath(self.root)
        while not os.path.isdir(current) and os.path.dirname(current) != current:
            current = os.path.dirname(current)
        info = os.statvfs(current)
        return info.f_bavail * info.f_frsize
