# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A bundle's files and parts: the checksums of a tree, the layout cut into numbered tar parts, and joined again.

``split`` streams the bundle's layout as one tar (``oci-layout``, ``index.json``, every blob) into
parts of at most ``part_size`` bytes, hashing each part as it is written. ``join`` reads the parts
in order as one stream and writes each member into a layout through the layout owner: a blob goes
to its ``.partial``, is hashed, and is renamed into place only when its digest matches; anything
that is not an expected member is refused. Standard library only.
"""

import hashlib
import os
import stat
import tarfile

from ansible_collections.airgap.ecr.plugins.module_utils import bundle_format as fmt
from ansible_collections.airgap.ecr.plugins.module_utils.bundle_format import BundleError
from ansible_collections.airgap.ecr.plugins.module_utils.digests import CHUNK_SIZE
from ansible_collections.airgap.ecr.plugins.module_utils.digests import digest_of
from ansible_collections.airgap.ecr.plugins.module_utils.digests import matches
from ansible_collections.airgap.ecr.plugins.module_utils.digests import new_hasher
from ansible_collections.airgap.ecr.plugins.module_utils.layout import Layout
from ansible_collections.airgap.ecr.plugins.module_utils.layout_archive import INDEX_FILE
from ansible_collections.airgap.ecr.plugins.module_utils.layout_archive import OCI_LAYOUT_FILE


def hash_file(path):
    """The sha256 hex of a regular file, opened without following a symlink."""
    hasher = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise BundleError(f"{path} is not a regular file: a bundle holds only files")
        for chunk in iter(lambda: handle.read(CHUNK_SIZE), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def hash_tree(root, exclude=()):
    """``[(relative path, sha256 hex)]`` of every file under ``root`` (symlinks refused), sorted."""
    entries = []
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            if os.path.islink(path):
                raise BundleError(f"{path} is a symlink: a bundle holds only files and directories")
        for name in files:
            relative = os.path.relpath(os.path.join(directory, name), root).replace(os.sep, "/")
            if relative not in exclude:
                entries.append((relative, hash_file(os.path.join(root, relative))))
    return sorted(entries)


class _PartWriter:
    """A file object to write that cuts what it is given into numbered parts under ``<root>/parts``."""

    def __init__(self, root, part_size):
        self.root, self.part_size = root, part_size
        self.files, self._out, self._hasher, self._size = [], None, None, 0
        os.mkdir(os.path.join(root, fmt.PARTS_DIR), 0o755)

    def _roll(self):
        self.close()
        name = fmt.part_name(len(self.files))
        fd = os.open(os.path.join(self.root, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        self._out, self._hasher, self._size = os.fdopen(fd, "wb"), hashlib.sha256(), 0
        self.files.append({"name": name})

    def write(self, data):
        data = memoryview(data)
        count = len(data)
        while len(data):
            if self._out is None or self._size == self.part_size:
                self._roll()
            chunk = data[: self.part_size - self._size]
            self._out.write(chunk)
            self._hasher.update(chunk)
            self._size += len(chunk)
            data = data[len(chunk) :]
        return count

    def close(self):
        if self._out is not None:
            self._out.flush()
            os.fsync(self._out.fileno())
            self._out.close()
            self.files[-1].update(size=self._size, sha256=self._hasher.hexdigest())
            self._out = None


def _tar_info(name, size):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime, info.uname, info.gname = size, 0o644, 0, "root", "root"
    return info


def split(root, part_size):
    """Write ``<root>/layout`` as one tar cut into parts under ``<root>/parts``; the ``parts`` description."""
    layout = Layout(os.path.join(root, fmt.LAYOUT_DIR), strict_modes=False)
    writer = _PartWriter(root, part_size)
    try:
        with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for name in layout.members():
                if name.startswith("blobs/"):
                    digest = ":".join(name.split("/")[1:3])
                    with layout.open_blob(digest) as handle:
                        tar.addfile(_tar_info(name, layout.blob_size(digest)), handle)
                else:
                    data = layout.read_text(name).encode("utf-8")
                    tar.addfile(_tar_info(name, len(data)), _Bytes(data))
    finally:
        writer.close()
        layout.close()
    return {"part_size": part_size, "size": sum(f["size"] for f in writer.files), "files": writer.files}


class _Bytes:
    def __init__(self, data):
        self.data, self.offset = data, 0

    def read(self, size=-1):
        end = len(self.data) if size < 0 else self.offset + size
        chunk, self.offset = self.data[self.offset : end], min(end, len(self.data))
        return chunk


class _PartReader:
    """The parts of a bundle read in order as one stream."""

    def __init__(self, paths):
        self.paths, self._handle = list(paths), None

    def read(self, size=-1):
        while self.paths or self._handle:
            if self._handle is None:
                fd = os.open(self.paths.pop(0), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
                self._handle = os.fdopen(fd, "rb")
            chunk = self._handle.read(size)
            if chunk:
                return chunk
            self._handle.close()
            self._handle = None
        return b""

    def close(self):
        if self._handle is not None:
            self._handle.close()


def _member_digest(member, expected):
    """The digest a tar member is the blob of, or its top-level name; BundleError for anything else."""
    if member.name in (OCI_LAYOUT_FILE, INDEX_FILE) and member.isfile():
        return member.name
    parts = member.name.split("/")
    digest = ":".join(parts[1:3]) if len(parts) == 3 and parts[0] == "blobs" else None
    if digest is None or digest not in expected or not member.isfile():
        raise BundleError(f"the bundle's tar holds {member.name!r}, which the bundle does not list: it is refused")
    return digest


def _join_blob(layout, digest, stream):
    """Write one blob from the tar into the layout, renamed into place only when its digest matches."""
    if layout.has_blob(digest):
        return
    hasher = new_hasher(digest)
    with layout.open_partial(digest, append=False) as out:
        for chunk in iter(lambda: stream.read(CHUNK_SIZE), b""):
            hasher.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if not matches(hasher, digest):
        layout.remove_partial(digest)
        raise BundleError(f"the blob {digest} in the bundle's parts does not have that digest: the bundle is corrupt")
    layout.commit_partial(digest)


def join(paths, layout, document):
    """Write the tar that ``paths`` (the parts, in order) make into ``layout``, verified; top files last."""
    expected = {image["image_digest"] for image in document["images"]}
    expected.update(blob["digest"] for blob in document["blobs"] if blob["in_bundle"])
    top, seen, reader = {}, set(), _PartReader(paths)
    try:
        with tarfile.open(fileobj=reader, mode="r|") as tar:
            for member in tar:
                digest = _member_digest(member, expected)
                stream = tar.extractfile(member)
                if digest in (OCI_LAYOUT_FILE, INDEX_FILE):
                    top[digest] = stream.read().decode("utf-8")
                else:
                    _join_blob(layout, digest, stream)
                seen.add(digest)
    except (tarfile.TarError, EOFError) as e:
        raise BundleError(f"the bundle's parts do not make a whole tar ({e}): a part is missing or cut short") from None
    finally:
        reader.close()
    missing = sorted((expected | {OCI_LAYOUT_FILE, INDEX_FILE}) - seen)
    if missing:
        raise BundleError("the bundle's parts lack " + ", ".join(missing) + ": the bundle is not complete")
    for name in (OCI_LAYOUT_FILE, INDEX_FILE):
        if digest_of(top[name]) != document["layout_files"].get(name):
            raise BundleError(f"{name} in the bundle's parts is not the one bundle.json describes: it is refused")
        layout.write_text(name, top[name])
