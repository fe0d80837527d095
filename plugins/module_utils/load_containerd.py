# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Load an image into containerd through the host's ``ctr``, under its full name and ``name@digest``.

Target side: standard library and ``ansible.module_utils`` only.

The image goes to ``ctr images import`` as an oci-archive streamed on its standard input (nothing
is written to disk): the archive's index names only this manifest, with ``io.containerd.image.name``
(the name containerd gives it: ``<repository>@<digest>``, the name pods pinned by digest look up)
and ``org.opencontainers.image.ref.name`` (the tag), and holds the manifest bytes unchanged, so a
Docker schema 2 manifest stays Docker schema 2 and the image keeps ECR's digest. ``ctr images tag``
then points the full name at it, only once the import succeeded. An image already present under
both names, with the same target digest, complete and unpacked, is left alone.
"""

import json
import os
import re
import stat

from ansible_collections.airgap.ecr.plugins.module_utils.manifest import OCI_INDEX
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_exec import Runner
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_exec import blob_file_name
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_exec import result
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_exec import stream_tar
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_image import ImageInputError
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_image import RuntimeLoadError

RUNTIME = "containerd"
DEFAULT_ADDRESS = "/run/containerd/containerd.sock"
DEFAULT_NAMESPACE = "k8s.io"
CONTAINERD_NAME = "io.containerd.image.name"
REF_NAME = "org.opencontainers.image.ref.name"
OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'
# containerd's namespace rule (identifiers of letters, digits, '_' and '-', separated by '.').
NAMESPACE_RE = re.compile(r"^[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*$")
_SNAPSHOTTER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_HINT = "install containerd's ctr on the host (Debian: the containerd package) or give its path"


def _socket_path(address):
    path = address[len("unix://") :] if address.startswith("unix://") else address
    if not os.path.isabs(path) or "\x00" in path:
        raise ImageInputError(
            f"containerd address {address!r} is not a socket path: expected an absolute path such as "
            f"{DEFAULT_ADDRESS} (k3s: /run/k3s/containerd/containerd.sock)"
        )
    return path


def archive_index(image, platform):
    """The oci-archive's index.json: this manifest only, named for containerd."""
    entry = {
        "mediaType": image.media_type,
        "digest": image.digest,
        "size": len(image.manifest),
        "annotations": {CONTAINERD_NAME: image.pinned_name, REF_NAME: image.tag or image.pinned_name},
    }
    if platform:
        entry["platform"] = platform
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}, sort_keys=True).encode()


def archive_members(image, platform):
    """``(name, size, content)`` of the oci-archive, for ``stream_tar``."""
    index = archive_index(image, platform)
    members = [("oci-layout", len(OCI_LAYOUT), OCI_LAYOUT), ("index.json", len(index), index)]
    members.append((f"blobs/sha256/{blob_file_name(image.digest)}", len(image.manifest), image.manifest))
    for blob in image.blobs():
        members.append((f"blobs/sha256/{blob_file_name(blob['digest'])}", blob["size"], blob["digest"]))
    return members


class ContainerdLoader:
    """Imports images into one containerd namespace through ``ctr -a ADDRESS -n NAMESPACE``.

    ``snapshotter``: the snapshotter to unpack into (default: ctr's, overlayfs); ``unpack``: False
    imports the content only. ``ctr``: the client program; ``environ``: extra environment variables.
    """

    def __init__(
        self,
        address=DEFAULT_ADDRESS,
        namespace=DEFAULT_NAMESPACE,
        ctr="ctr",
        snapshotter=None,
        unpack=True,
        environ=None,
        timeout=None,
    ):
        self.socket = _socket_path(address)
        if not isinstance(namespace, str) or not NAMESPACE_RE.fullmatch(namespace) or len(namespace) > 76:
            raise ImageInputError(
                f"containerd namespace {namespace!r} is not valid: letters, digits, '_' and '-', separated by '.' "
                f"(for example {DEFAULT_NAMESPACE}, the namespace Kubernetes uses)"
            )
        if snapshotter is not None and not _SNAPSHOTTER_RE.fullmatch(str(snapshotter)):
            raise ImageInputError(
                f"containerd snapshotter {snapshotter!r} is not a snapshotter name (for example overlayfs)"
            )
        self.address, self.namespace, self.ctr = address, namespace, ctr
        self.snapshotter, self.unpack, self.environ, self.timeout = snapshotter, unpack, environ, timeout

    def _runner(self, image):
        return Runner(
            RUNTIME, image.name, self.ctr, _HINT, ["-a", self.socket, "-n", self.namespace], self.environ, self.timeout
        )

    def _check_socket(self, runner):
        try:
            mode = os.stat(self.socket).st_mode
        except FileNotFoundError:
            raise runner.error(
                f"containerd socket {self.socket} not found: is containerd running? "
                "set image_fetch_containerd_address to its socket (k3s and RKE2 have their own)"
            ) from None
        except OSError as e:
            raise runner.error(
                f"containerd socket {self.socket} cannot be reached ({e.strerror}): run as root"
            ) from None
        if not stat.S_ISSOCK(mode):
            raise runner.error(
                f"{self.socket} is not a socket: set image_fetch_containerd_address to containerd's socket"
            )

    def present(self, runner, names):
        """``{name: {"digest", "complete", "unpacked"}}`` for those of ``names`` containerd has."""
        args = ["images", "check"]
        if self.snapshotter:
            args += ["--snapshotter", self.snapshotter]
        found = {}
        for line in runner.run(args + [f"name=={name}" for name in names]).stdout.splitlines()[1:]:
            fields = line.split()
            if len(fields) >= 4 and fields[0] in names:
                found[fields[0]] = {
                    "digest": fields[2],
                    "complete": fields[3] == "complete",
                    "unpacked": fields[-1] == "true",
                }
        return found

    def _up_to_date(self, image, state):
        return (
            bool(state)
            and state["digest"] == image.digest
            and state["complete"]
            and (state["unpacked"] or not self.unpack)
        )

    def plan(self, image, runner):
        """The actions needed, from what containerd has: ``import`` (as the pinned name), ``tag <name>``."""
        names = [image.pinned_name] if image.name == image.pinned_name else [image.pinned_name, image.name]
        found = self.present(runner, names)
        actions = []
        if not self._up_to_date(image, found.get(image.pinned_name)):
            actions.append(f"import {image.pinned_name} into namespace {self.namespace}")
        if image.name != image.pinned_name and (actions or not self._up_to_date(image, found.get(image.name))):
            actions.append(f"tag {image.name}")
        return actions

    def load(self, image, check_mode=False):
        """Import ``image`` (a RuntimeImage) unless already there; returns a result dict.

        The import names the image ``<repository>@<digest>``, which can only ever mean this content; the
        full name is moved to it by ``ctr images tag`` once the import succeeded, so a refused import
        never leaves the full name pointing at a broken image.
        """
        runner = self._runner(image)
        self._check_socket(runner)
        actions = self.plan(image, runner)
        if not check_mode:
            if actions and actions[0].startswith("import"):
                self._import(image, runner)
            if actions and actions[-1].startswith("tag"):
                runner.run(["images", "tag", "--force", image.pinned_name, image.name])
            self._verify(image, runner)
        return result(
            RUNTIME,
            image,
            bool(actions),
            actions,
            check_mode,
            namespace=self.namespace,
            names=sorted({image.name, image.pinned_name}),
        )

    def _import(self, image, runner):
        platform = image.platform()
        args = ["images", "import"]
        if platform:
            args += [
                "--platform",
                "/".join(platform[key] for key in ("os", "architecture", "variant") if key in platform),
            ]
        if self.snapshotter:
            args += ["--snapshotter", self.snapshotter]
        if not self.unpack:
            args.append("--no-unpack")
        members = archive_members(image, platform)
        try:
            runner.run(args + ["-"], feed=lambda stream: stream_tar(stream, members, image))
        except RuntimeLoadError:
            # containerd may have recorded the name before unpacking failed: leave no broken image behind.
            runner.run(["images", "rm", image.pinned_name], check=False)
            raise

    def _verify(self, image, runner):
        names = sorted({image.name, image.pinned_name})
        found = self.present(runner, names)
        wrong = [name for name in names if not self._up_to_date(image, found.get(name))]
        if wrong:
            raise runner.error(
                f"after the import, containerd does not list {', '.join(wrong)} as {image.digest}, complete"
                + (" and unpacked" if self.unpack else "")
                + ": check containerd's log and the image's platform"
            )
