# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The oci-archive of a layout: one uncompressed, reproducible tar, written and compared by the layout owner.

The tar is built from one plan (``_stream``): each member's header bytes (``TarInfo.tobuf``, PAX
format, owner root, mtime 0, modes 0755/0644), its content and its padding, then the end blocks.
``write_archive`` writes that plan through the layout owner's one atomic write (a unique
temporary file next to the archive, never through a symlink). ``archive_matches`` reads an
existing archive once and compares it with the same plan byte for byte: headers, padding and the
small files (index.json, oci-layout) exactly, and each blob member by hashing its bytes against
the digest its name is, so a tampered archive is rewritten without reading the layout's blobs,
which were verified when they were put there. Standard library only: runs on target hosts.
"""

import os
import stat

from ansible_collections.airgap.ecr.plugins.module_utils import layout_fs as fs
from ansible_collections.airgap.ecr.plugins.module_utils.digests import CHUNK_SIZE
from ansible_collections.airgap.ecr.plugins.module_utils.digests import matches
from ansible_collections.airgap.ecr.plugins.module_utils.digests import new_hasher
from ansible_collections.airgap.ecr.plugins.module_utils.layout_fs import LayoutError

OCI_LAYOUT_FILE = "oci-layout"
INDEX_FILE = "index.json"
_NUL = b"\0"


def member_files(root_fd, root, policy):
    """``[(name, size)]`` of what an archive of the layout holds: oci-layout, index.json, every blob (sorted)."""
    members = []
    for name in (OCI_LAYOUT_FILE, INDEX_FILE):
        members.append((name, _regular_size(fs.lstat(root_fd, name), os.path.join(root, name))))
    blobs_fd = fs.open_subdir(root_fd, root, ("blobs",), policy) if root_fd is not None else None
    if blobs_fd is None:
        return members
    try:
        for algorithm in sorted(os.listdir(blobs_fd)):
            if algorithm.startswith("."):
                continue
            algorithm_fd = fs.open_subdir(blobs_fd, os.path.join(root, "blobs"), (algorithm,), policy)
            try:
                for name in sorted(os.listdir(algorithm_fd)):
                    if not name.startswith("."):
                        path = os.path.join(root, "blobs", algorithm, name)
                        members.append((f"blobs/{algorithm}/{name}", _regular_size(fs.lstat(algorithm_fd, name), path)))
            finally:
                os.close(algorithm_fd)
    finally:
        os.close(blobs_fd)
    return members


def _regular_size(info, path):
    if info is None:
        raise LayoutError(f"{path} is missing: the layout is not complete, so it is not archived")
    if not stat.S_ISREG(info.st_mode):
        raise LayoutError(
            f"{path} is not a regular file (a symlink, a directory or a device): the layout is not archived"
        )
    return info.st_size


def _info(name, size=None):
    # Imported here, for an archive only: a module run compiles every file it imports from the AnsiballZ zip.
    import tarfile  # pylint: disable=import-outside-toplevel

    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if size is None else tarfile.REGTYPE
    info.mode = 0o755 if size is None else 0o644
    info.size = size or 0
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _stream(members):
    """The archive as a plan: ``bytes`` to write as they are, or ``(name, size)`` for a member's content."""
    import tarfile  # pylint: disable=import-outside-toplevel  # see _info

    offset = 0
    added = set()
    for name, size in members:
        parts = name.split("/")
        infos = [
            _info("/".join(parts[:depth])) for depth in range(1, len(parts)) if "/".join(parts[:depth]) not in added
        ]
        added.update(info.name for info in infos)
        for info in infos + [_info(name, size)]:
            header = info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
            yield header
            offset += len(header)
        yield (name, size)
        padding = -size % tarfile.BLOCKSIZE
        yield _NUL * padding
        offset += size + padding
    end = offset + 2 * tarfile.BLOCKSIZE
    yield _NUL * (end + -end % tarfile.RECORDSIZE - offset)


class _Members:
    """Opens the layout's files for the archive, relative to the root's descriptor, never through a symlink."""

    def __init__(self, root_fd, root, policy):
        self.root_fd, self.root, self.policy = root_fd, root, policy

    def open(self, name, size):
        *folders, filename = name.split("/")
        dir_fd = fs.open_subdir(self.root_fd, self.root, folders, self.policy) if folders else os.dup(self.root_fd)
        if dir_fd is None:
            raise LayoutError(f"{os.path.join(self.root, name)} is missing: the layout changed while it was archived")
        try:
            fd = fs.open_file(dir_fd, filename, os.path.join(self.root, name))
        finally:
            os.close(dir_fd)
        if os.fstat(fd).st_size != size:
            os.close(fd)
            raise LayoutError(
                f"{os.path.join(self.root, name)} changed while the layout was archived: run the task again"
            )
        return os.fdopen(fd, "rb")


def _write(out, members, files):
    for item in _stream(members):
        if isinstance(item, bytes):
            out.write(item)
            continue
        with files.open(*item) as handle:
            left = item[1]
            while left:
                chunk = handle.read(min(CHUNK_SIZE, left))
                if not chunk:
                    raise LayoutError(
                        f"{os.path.join(files.root, item[0])} changed while the layout was archived: run the task again"
                    )
                out.write(chunk)
                left -= len(chunk)


def _same_content(handle, name, size, files):
    """Whether the archive's next ``size`` bytes are the layout's ``name``: a blob by digest, others byte for byte."""
    if not name.startswith("blobs/"):
        with files.open(name, size) as source:
            return handle.read(size) == source.read()
    algorithm, encoded = name.split("/")[1:]
    digest = f"{algorithm}:{encoded}"
    hasher = new_hasher(digest)
    left = size
    while left:
        chunk = handle.read(min(CHUNK_SIZE, left))
        if not chunk:
            return False
        hasher.update(chunk)
        left -= len(chunk)
    return matches(hasher, digest)


def _same(handle, members, files):
    for item in _stream(members):
        if isinstance(item, bytes):
            if handle.read(len(item)) != item:
                return False
        elif not _same_content(handle, item[0], item[1], files):
            return False
    return handle.read(1) == b""


def _archive_dir(archive, policy):
    """``(dir_fd, directory, name)`` of the archive path; clean messages for a missing directory or a directory."""
    directory, name = os.path.split(os.path.abspath(archive))
    if not name:
        raise LayoutError(f"archive {archive!r} is not a file path: give the path of the tar file to write")
    dir_fd = fs.open_dir(directory, policy, leaf_inside=False)
    if dir_fd is None:
        raise LayoutError(
            f"the directory of the archive {archive} does not exist: create {directory} first, or give another path"
        )
    info = fs.lstat(dir_fd, name)
    if info is not None and stat.S_ISDIR(info.st_mode):
        os.close(dir_fd)
        raise LayoutError(
            f"the archive path {archive} is a directory: give the path of a file, for example {archive}/image.tar"
        )
    return dir_fd, directory, name


def archive_matches(root_fd, root, archive, policy):
    """Whether the archive at ``archive`` is, byte for byte, what write_archive() would write now."""
    dir_fd, _directory, name = _archive_dir(archive, policy)
    try:
        info = fs.lstat(dir_fd, name)
        if info is None or not stat.S_ISREG(info.st_mode):
            return False
        try:
            members = member_files(root_fd, root, policy)
        except LayoutError:  # an incomplete layout (in check mode): the archive is to be written
            return False
        with os.fdopen(fs.open_file(dir_fd, name, archive), "rb") as handle:
            return _same(handle, members, _Members(root_fd, root, policy))
    finally:
        os.close(dir_fd)


def write_archive(root_fd, root, archive, policy):
    """Write the layout as an oci-archive at ``archive``, atomically; an OS error is a message naming the archive."""
    try:
        dir_fd, directory, name = _archive_dir(archive, policy)
        try:
            members = member_files(root_fd, root, policy)
            fs.atomic_write(
                dir_fd, directory, name, lambda out: _write(out, members, _Members(root_fd, root, policy)), policy
            )
        finally:
            os.close(dir_fd)
    except LayoutError:
        raise
    except OSError as e:
        raise LayoutError(f"the archive {archive} cannot be written: {e.strerror or e}") from None


def converge(archive, policy, check_mode):
    """Give an existing archive the mode, owner and group asked for; True when it needed it."""
    dir_fd, _directory, name = _archive_dir(archive, policy)
    try:
        return fs.converge(dir_fd, name, archive, policy, check_mode)
    finally:
        os.close(dir_fd)
