# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The file-system primitives of the layout owner: directory fds, one directory rule, one atomic write.

Nothing here opens, changes or renames a path through a symlink planted under a layout: a
directory is reached one component at a time from ``/`` with ``O_NOFOLLOW`` and directory file
descriptors, files are opened relative to their directory's descriptor with ``O_NOFOLLOW``, modes
and owners are set with ``fchmod``/``fchown`` on the open file, and renames are relative to the
directory's descriptor. The directory rule (``Policy``, as ssh's StrictModes) refuses a layout
whose directories are symlinks, owned by another user, or writable by group or others. Only
``layout.py`` and ``layout_archive.py`` use this module. Standard library only: runs on target hosts.
"""

import errno
import fcntl
import grp
import os
import pwd
import secrets
import stat
import threading
from contextlib import contextmanager

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO planted at a file's name must not hang the open (it is then refused as not a regular file).
FILE_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
MAX_SYMLINKS = 40
OPT_OUT = "set strict_modes=false to accept it"


class LayoutError(OSError):
    """A layout that cannot be used or written safely; the message names the path and says why.

    An OSError: callers treat it as the local file-system problem it is (no retry cures it).
    """


def user_id(value, what="owner"):
    """A user (``what="owner"``) or group name or number as a numeric id, or None."""
    if value is None or value == "":
        return None
    text = str(value)
    if text.isdigit():
        return int(text)
    try:
        return pwd.getpwnam(text).pw_uid if what == "owner" else grp.getgrnam(text).gr_gid
    except KeyError:
        raise LayoutError(
            f"{what} {text!r} is not a known {'user' if what == 'owner' else 'group'} on this host"
        ) from None


def octal_mode(value, option):
    """An octal mode (``0640``, ``"0640"``, ``416``) as an int; None for None or a symbolic mode (left to Ansible)."""
    if value is None or isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    if text and all(c in "01234567" for c in text):
        return int(text, 8) & 0o7777
    if option == "dir_mode" or not text:
        raise LayoutError(f"{option} {value!r} is not an octal mode: give it as a quoted string such as '0750'")
    return None


class Policy:
    """How a layout's files and directories are created and which directories are trusted."""

    def __init__(self, strict=True, file_mode=None, dir_mode=None, uid=None, gid=None):
        self.strict = strict
        self.file_mode = file_mode
        self.dir_mode = dir_mode
        self.uid = uid
        self.gid = gid
        self.trusted = {0, os.geteuid()} | ({uid} if uid is not None else set())

    def check_dir(self, fd, path, inside):
        """Refuse a directory another user could change (``inside``: of the layout; else an ancestor or the
        archive's directory, where a sticky world-writable directory such as /tmp is accepted)."""
        if not self.strict:
            return
        info = os.fstat(fd)
        if info.st_uid not in self.trusted:
            raise LayoutError(
                f"{path} is owned by uid {info.st_uid}, not by root or the user running the module "
                f"(uid {os.geteuid()}): "
                f"that user could change the layout's files; change its owner, or {OPT_OUT}"
            )
        if info.st_mode & 0o022 and (inside or not info.st_mode & stat.S_ISVTX):
            raise LayoutError(
                f"{path} is writable by its group or by others (mode {stat.S_IMODE(info.st_mode):04o}): they could "
                f"replace the layout's files; remove that write permission (chmod go-w), or {OPT_OUT}"
            )

    def sets_attributes(self):
        """Whether a mode, owner or group was asked for the layout's files."""
        return self.file_mode is not None or self.uid is not None or self.gid is not None

    def finish(self, fd):
        """Give a new file or directory (open as ``fd``) its mode and owner, when the module was given them."""
        if self.file_mode is not None and not stat.S_ISDIR(os.fstat(fd).st_mode):
            os.fchmod(fd, self.file_mode)
        if self.uid is not None or self.gid is not None:
            os.fchown(fd, -1 if self.uid is None else self.uid, -1 if self.gid is None else self.gid)

    def new_file_mode(self):
        """The mode to create a file with: private until finish() when a mode is given, else the umask's."""
        return 0o600 if self.file_mode is not None else 0o666


def _join(directory, name):
    return os.path.join(directory, name) if directory else name


def _make_dir(parent_fd, name, path, policy):
    try:
        os.mkdir(name, 0o700 if policy.dir_mode is not None else 0o777, dir_fd=parent_fd)
        created = True
    except FileExistsError:
        created = False
    fd = _open_dir(parent_fd, name, path)
    if created:
        if policy.dir_mode is not None:
            os.fchmod(fd, policy.dir_mode)
        policy.finish(fd)
    return fd


def _open_dir(parent_fd, name, path):
    """``name`` in ``parent_fd`` as a directory fd; a symlink or a non-directory is a LayoutError."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except OSError as e:
        if e.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
    if stat.S_ISLNK(os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode):
        raise LayoutError(
            f"{path} is a symlink: the layout's directories are never reached through one; give the path it points to"
        )
    raise LayoutError(f"{path} is not a directory")


def open_dir(path, policy, create=False, leaf_inside=True):
    """A descriptor of the directory ``path``, or None when it is missing (and not ``create``).

    The path is walked from ``/`` one component at a time, each checked by the directory rule; a
    symlink among the ancestors is followed only from a directory that passed the rule, and the
    last component (the layout root, when ``leaf_inside``) is never a symlink.
    """
    todo = [part for part in os.path.abspath(path).split("/") if part]
    fd, where, links = os.open("/", _DIR_FLAGS), "/", 0
    try:
        policy.check_dir(fd, where, inside=False)
        while todo:
            name = todo.pop(0)
            if name == ".":
                continue
            last, here = not todo, os.path.normpath(_join(where, name))
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    return None
                child = _make_dir(fd, name, here, policy)
            except OSError as e:
                if e.errno not in (errno.ELOOP, errno.ENOTDIR) or (last and leaf_inside):
                    child = _open_dir(fd, name, here)  # raises the right message
                else:
                    links += 1
                    target = _symlink_target(fd, name, here, links)
                    todo[:0] = [part for part in target.split("/") if part]
                    if target.startswith("/"):
                        os.close(fd)
                        fd, where = os.open("/", _DIR_FLAGS), "/"
                    continue
            os.close(fd)
            fd, where = child, here
            policy.check_dir(fd, where, inside=last and leaf_inside)
        result, fd = fd, None
        return result
    finally:
        if fd is not None:
            os.close(fd)


def _symlink_target(fd, name, path, links):
    if not stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode):
        raise LayoutError(f"{path} is not a directory")
    if links > MAX_SYMLINKS:
        raise LayoutError(f"{path}: too many levels of symbolic links")
    return os.readlink(name, dir_fd=fd)


def reopen_dir(dir_fd):
    """A new descriptor (a new open file description, for a lock of its own) of the directory ``dir_fd``."""
    return os.open(".", _DIR_FLAGS, dir_fd=dir_fd)


def open_subdir(parent_fd, parent_path, names, policy, create=False):
    """The directory ``names`` (a sequence) below ``parent_fd``, never through a symlink; None when missing."""
    fd, path = os.dup(parent_fd), parent_path
    try:
        for name in names:
            path = os.path.join(path, name)
            try:
                child = _open_dir(fd, name, path)
            except FileNotFoundError:
                if not create:
                    return None
                child = _make_dir(fd, name, path, policy)
            os.close(fd)
            fd = child
            policy.check_dir(fd, path, inside=True)
        result, fd = fd, None
        return result
    finally:
        if fd is not None:
            os.close(fd)


def lstat(dir_fd, name):
    """The entry's own status (a symlink is not followed), or None when there is none."""
    if dir_fd is None:
        return None
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def open_file(dir_fd, name, path, flags=os.O_RDONLY, mode=0o666):
    """Open a regular file relative to ``dir_fd``, never through a symlink; returns the fd."""
    try:
        fd = os.open(name, flags | FILE_FLAGS, mode, dir_fd=dir_fd)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENXIO) or e.errno == errno.EISDIR:
            raise LayoutError(
                f"{path} is not a regular file (a symlink, a directory or a device): it is not opened"
            ) from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise LayoutError(f"{path} is not a regular file (a symlink, a directory or a device): it is not opened")
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
    return fd


def remove(dir_fd, name):
    """Remove the entry ``name`` (a symlink itself, never its target); nothing when it is not there."""
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass


def fsync_dir(dir_fd):
    try:
        os.fsync(dir_fd)
    except OSError:
        pass


def same_file(info, other):
    return other is not None and (info.st_dev, info.st_ino) == (other.st_dev, other.st_ino)


def rename_into_place(fd, dir_fd, source, name, path, policy, sync=True):
    """Give the open file ``fd`` (at ``source`` in ``dir_fd``) its mode and owner, and rename it to ``name``.

    The file is changed through its descriptor, never its name; after the rename the name must be
    that file (a file swapped in by someone else is removed and refused). ``sync=False`` when the
    writer has fsynced the content already.
    """
    policy.finish(fd)
    if sync:
        os.fsync(fd)
    info = os.fstat(fd)
    target = lstat(dir_fd, name)
    if target is not None and stat.S_ISDIR(target.st_mode):
        raise LayoutError(f"{path} is a directory: it cannot be replaced by a file; give the path of a file")
    os.rename(source, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    if not same_file(info, lstat(dir_fd, name)):
        remove(dir_fd, name)
        raise LayoutError(
            f"{path} was replaced by another file while it was written: someone else writes in its directory"
        )
    fsync_dir(dir_fd)


def converge(dir_fd, name, path, policy, check_mode=False):
    """Give an existing file the policy's mode, owner and group, through its descriptor; True when it needed it."""
    if not policy.sets_attributes() or dir_fd is None:
        return False
    try:
        fd = open_file(dir_fd, name, path)
    except FileNotFoundError:
        return False
    try:
        info = os.fstat(fd)
        wanted = (policy.file_mode, policy.uid, policy.gid)
        found = (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)
        if all(want is None or want == have for want, have in zip(wanted, found)):
            return False
        if not check_mode:
            policy.finish(fd)
        return True
    finally:
        os.close(fd)


def atomic_write(dir_fd, dir_path, name, fill, policy):
    """Write the file ``name`` in ``dir_fd`` atomically: ``fill(binary_file)`` writes its content.

    A temporary file with a unique name is created (``O_CREAT|O_EXCL``, never through a symlink)
    in the same directory, filled, fsynced, given its mode and owner through its descriptor,
    renamed over ``name``, and the directory fsynced. The only way a layout file is written.
    """
    temporary = f".{name}.{secrets.token_hex(8)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    fd = open_file(dir_fd, temporary, os.path.join(dir_path, temporary), flags, policy.new_file_mode())
    done = False
    try:
        with os.fdopen(os.dup(fd), "wb") as out:
            fill(out)
            out.flush()
        rename_into_place(fd, dir_fd, temporary, name, os.path.join(dir_path, name), policy)
        done = True
    finally:
        os.close(fd)
        if not done:
            remove(dir_fd, temporary)


@contextmanager
def flocked(fd):
    """Hold an exclusive ``flock`` on ``fd`` (released when the block ends)."""
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)


class StaleLock(Exception):
    """The lock file was removed (by the holder that released it) while this run waited for it: lock again."""


def lock_file(dir_fd, name, path):
    """Open (create) the lock file ``name`` in ``dir_fd``, never through a symlink; returns its fd."""
    return open_file(dir_fd, name, path, os.O_RDWR | os.O_CREAT, 0o600)


def check_lock(dir_fd, name, fd):
    """Raise StaleLock unless ``name`` is still the file locked through ``fd``."""
    if not same_file(os.fstat(fd), lstat(dir_fd, name)):
        raise StaleLock(name)


class Locks:
    """The locks one layout holds in this process (blob locks by digest, the layout lock as ``""``)."""

    def __init__(self):
        self._held = {}
        self._guard = threading.Lock()

    @contextmanager
    def hold(self, key, dir_fd, name=None, path=None):
        """Lock ``name`` in ``dir_fd`` (a lock file at ``path``; the directory itself without ``name``).

        Once per process: a thread that holds the lock under ``key`` is not locked out by itself.
        """
        me = threading.get_ident()
        with self._guard:
            if self._held.get(key) == me:
                reentered = True
            else:
                reentered = False
        if reentered:
            yield
            return
        handle = lock_file(dir_fd, name, path) if name else reopen_dir(dir_fd)
        try:
            with flocked(handle):
                if name:
                    check_lock(dir_fd, name, handle)
                with self._guard:
                    self._held[key] = me
                try:
                    yield
                finally:
                    with self._guard:
                        del self._held[key]
                    if name:
                        remove(dir_fd, name)
        finally:
            os.close(handle)
