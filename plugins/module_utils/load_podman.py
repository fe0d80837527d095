# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Load an image into podman's storage through the host's ``podman``, keeping ECR's digest.

Target side: standard library and ``ansible.module_utils`` only.

podman 4.3 loads one image per OCI archive and reads OCI layouts only for OCI media types; its
``dir:`` transport keeps any manifest byte for byte. So the image is written as a ``dir:``
directory (``manifest.json`` with ECR's bytes, one file per blob, ``version``) in a private
temporary directory, pulled with ``podman pull dir:DIR`` and named with ``podman tag``. podman then
finds it by its full name and by ``<repository>@<digest>`` (its RepoDigests pair every name with the
manifest digests it stored). An image already found under both names is left alone.
"""

import os
import shutil
import tempfile

from ansible_collections.airgap.ecr.plugins.module_utils.runtime_exec import Runner
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_exec import blob_file_name
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_exec import result
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_image import ImageInputError

RUNTIME = "podman"
DIR_VERSION = b"Directory Transport Version: 1.1\n"
_HINT = "install podman on the host (Debian: the podman package) or give its path"
_CHUNK = 1024 * 1024


def require_tag(image, runtime):
    """Raise ImageInputError for a name without a tag: ``runtime`` cannot name an image by digest alone."""
    if image.tag is None:
        raise ImageInputError(
            f"{runtime} cannot give an image a name by digest alone ({image.name}): name the image with a tag, "
            f"for example {image.repository}:<tag> (the image's 'name' option)"
        )


def _write_file(directory, name, chunks):
    """Create ``directory/name`` exclusively (never through a symlink) and write ``chunks`` to it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    with os.fdopen(os.open(os.path.join(directory, name), flags, 0o600), "wb") as handle:
        for chunk in chunks:
            handle.write(chunk)


def _blob_chunks(image, digest, size):
    with image.open_blob(digest) as source:
        remaining = size
        while remaining > 0:
            chunk = source.read(min(_CHUNK, remaining))
            if not chunk:
                raise OSError(f"blob {digest} ended after {size - remaining} of its {size} bytes")
            remaining -= len(chunk)
            yield chunk


def write_dir(image, directory):
    """Write ``image`` into the empty private ``directory`` in containers/image's ``dir:`` format."""
    _write_file(directory, "manifest.json", [image.manifest])
    for blob in image.blobs():
        _write_file(directory, blob_file_name(blob["digest"]), _blob_chunks(image, blob["digest"], blob["size"]))
    _write_file(directory, "version", [DIR_VERSION])


class PodmanLoader:
    """Loads images into the storage of the host's ``podman`` (root's, or as ``environ`` configures it).

    ``podman``: the client program. ``signature_policy``: a policy.json for the pull from the private
    directory (default: the host's). ``tmpdir``: where the private directory is made (default: the
    system's temporary directory; it needs room for the image). ``environ``: extra environment
    variables (for example CONTAINERS_STORAGE_CONF).
    """

    def __init__(self, podman="podman", signature_policy=None, tmpdir=None, environ=None, timeout=None):
        for option, value in (("signature_policy", signature_policy), ("tmpdir", tmpdir)):
            if value is not None and (not isinstance(value, str) or not os.path.isabs(value)):
                raise ImageInputError(f"podman {option} {value!r} is not an absolute path")
        self.podman, self.signature_policy, self.tmpdir = podman, signature_policy, tmpdir
        self.environ, self.timeout = environ, timeout

    def present(self, image, runner):
        """Whether podman finds ``image`` by its full name and by its pinned name, as one image."""
        found = runner.run(["image", "inspect", "--format", "{{.Id}}", image.name, image.pinned_name], check=False)
        if found.rc == 0:
            ids = found.stdout.split()
            return len(ids) == 2 and ids[0] == ids[1]
        if "image not known" in found.stderr:
            return False
        raise runner.error(f"'podman image inspect' failed: {found.reason()}: check podman's storage configuration")

    def load(self, image, check_mode=False):
        """Pull ``image`` (a RuntimeImage) from a private ``dir:`` copy unless present; returns a result dict."""
        require_tag(image, RUNTIME)
        runner = Runner(RUNTIME, image.name, self.podman, _HINT, environ=self.environ, timeout=self.timeout)
        actions = [] if self.present(image, runner) else [f"pull from a dir: copy and tag {image.name}"]
        if actions and not check_mode:
            self._pull(image, runner)
            self._verify(image, runner)
        return result(RUNTIME, image, bool(actions), actions, check_mode, names=[image.name, image.pinned_name])

    def _pull(self, image, runner):
        directory = tempfile.mkdtemp(prefix=".airgap-ecr-podman-", dir=self.tmpdir)
        try:
            try:
                write_dir(image, directory)
            except OSError as e:
                raise runner.error(
                    f"writing a copy for podman in {directory} failed: {e}: free space or set tmpdir"
                ) from None
            args = ["pull", "--quiet"]
            if self.signature_policy:
                args += ["--signature-policy", self.signature_policy]
            pulled = runner.run(args + [f"dir:{directory}"]).stdout.split()
            if not pulled:
                raise runner.error("'podman pull' printed no image id")
            runner.run(["tag", pulled[-1], image.name])
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def _verify(self, image, runner):
        found = runner.run(["image", "inspect", "--format", "{{json .RepoDigests}}", image.pinned_name], check=False)
        if found.rc != 0 or image.pinned_name not in found.stdout or not self.present(image, runner):
            raise runner.error(
                f"after the pull, podman does not find the image as {image.pinned_name}: "
                f"check that podman keeps the manifest ({found.reason()})"
            )
