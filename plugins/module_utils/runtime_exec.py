# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Running a runtime's own client (ctr, podman, docker) and streaming image tars into it.

Target side: standard library and ``ansible.module_utils`` only. Commands are argument lists (no
shell); their output goes to anonymous temporary files, so a chatty client never blocks the tar
written to its standard input; a client that stops reading ends the write, and its own error text
is what the caller reports.
"""

import io
import os
import re
import subprocess
import tarfile
import tempfile
import threading

from ansible_collections.airgap.ecr.plugins.module_utils.runtime_image import RuntimeLoadError

DEFAULT_TIMEOUT = 1800
_TAIL = 2000


class CommandResult:
    """A finished command: ``rc``, ``stdout`` and ``stderr`` as text."""

    def __init__(self, argv, rc, stdout, stderr):
        self.argv, self.rc, self.stdout, self.stderr = argv, rc, stdout, stderr

    def reason(self):
        """The end of the client's error output (or of its output), for a message."""
        text = (self.stderr.strip() or self.stdout.strip() or f"exit status {self.rc}")[-_TAIL:]
        return " ".join(text.split())


class Runner:
    """Runs one runtime client for one image; every failure is a RuntimeLoadError naming both.

    ``runtime``: the runtime's name in messages. ``binary``: the client program. ``hint``: what to
    do when the client is missing. ``environ``: variables added to the process environment.
    ``commands`` records every argument list run.
    """

    def __init__(self, runtime, image, binary, hint, prefix=(), environ=None, timeout=None):
        self.runtime, self.image, self.binary, self.hint = runtime, image, binary, hint
        self.prefix = list(prefix)
        self.environ = dict(os.environ, **(environ or {}))
        self.timeout = timeout or DEFAULT_TIMEOUT
        self.commands = []

    def error(self, detail):
        return RuntimeLoadError(self.runtime, self.image, detail)

    def run(self, args, feed=None, check=True):
        """Run ``binary prefix args``; ``feed(stream)`` writes its standard input. Returns a CommandResult."""
        argv = [self.binary] + self.prefix + list(args)
        what = " ".join([os.path.basename(self.binary)] + _subcommands(args))
        self.commands.append(argv)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            process = self._start(argv, out, err, feed is not None)
            # The deadline covers the input too: a client that stops reading without exiting is stopped.
            expired = []
            watchdog = threading.Timer(self.timeout, lambda: expired.append(process.kill()))
            watchdog.start()
            try:
                feed_error = self._feed(process, feed) if feed is not None else None
                rc = process.wait()
            finally:
                watchdog.cancel()
            if expired:
                raise self.error(f"'{what}' did not finish in {self.timeout} s and was stopped")
            result = CommandResult(argv, rc, _read(out), _read(err))
        if feed_error is not None and rc == 0:
            raise self.error(f"writing the image to '{what}' failed: {feed_error}")
        if check and rc != 0:
            raise self.error(f"'{what}' failed: {result.reason()}")
        return result

    def _start(self, argv, out, err, with_input):
        try:
            return subprocess.Popen(  # pylint: disable=consider-using-with
                argv,
                stdin=subprocess.PIPE if with_input else subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=self.environ,
                close_fds=True,
            )
        except FileNotFoundError:
            raise self.error(f"the command {self.binary!r} was not found: {self.hint}") from None
        except PermissionError:
            raise self.error(f"the command {self.binary!r} cannot be run (permission denied): {self.hint}") from None

    def _feed(self, process, feed):
        """Write the input; returns why it stopped early, or None. Kills the client on our own errors."""
        try:
            feed(process.stdin)
            process.stdin.close()
            return None
        except BrokenPipeError as e:
            # The client stopped reading: its exit status and error output say why.
            return str(e)
        except OSError as e:
            process.kill()
            process.wait()
            raise self.error(
                f"reading the image's blobs failed ({e}): the local copy is damaged, fetch it again"
            ) from None
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            try:
                process.stdin.close()
            except OSError:
                pass


def _subcommands(args):
    """The leading subcommand words of ``args`` (``images import``), for messages: no paths, no values."""
    words = []
    for arg in args:
        if not re.fullmatch(r"[a-z]+", arg):
            break
        words.append(arg)
    return words


def _read(handle):
    handle.seek(0)
    return handle.read().decode("utf-8", "replace")


def _dir_entries(names):
    folders = []
    for name in names:
        parts = name.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth])
            if folder not in folders:
                folders.append(folder)
    return folders


def _info(name, size, directory=False):
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    info.mode = 0o755 if directory else 0o644
    info.size, info.mtime = (0 if directory else size), 0
    return info


def stream_tar(stream, members, image):
    """Write an uncompressed tar of ``members`` to ``stream``, reading each blob as it goes.

    ``members``: ``(name, size, content)`` where content is bytes or a blob digest read through
    ``image.open_blob``. A blob shorter than its descriptor's size makes tarfile raise OSError;
    nothing is buffered beyond tarfile's own blocks.
    """
    with tarfile.open(fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for folder in _dir_entries([member[0] for member in members]):
            tar.addfile(_info(folder, 0, directory=True))
        for name, size, content in members:
            if isinstance(content, bytes):
                tar.addfile(_info(name, len(content)), io.BytesIO(content))
                continue
            with image.open_blob(content) as handle:
                tar.addfile(_info(name, size), handle)


def blob_file_name(digest):
    """``sha256:<hex>`` -> ``<hex>``; the digest was validated by RuntimeImage."""
    return digest.split(":", 1)[1]


def result(runtime, image, changed, actions, check_mode, **extra):
    """A loader's or the client's result: what was (or, in check mode, would be) done."""
    verb = "would" if check_mode else "did"
    summary = f"{runtime}: {image.name}: " + (
        f"{verb} " + ", ".join(actions) if actions else "already present, nothing to do"
    )
    value = {
        "runtime": runtime,
        "name": image.name,
        "digest": image.digest,
        "changed": changed,
        "actions": list(actions),
        "check_mode": check_mode,
        "msg": summary,
    }
    value.update(extra)
    return value
