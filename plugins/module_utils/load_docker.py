# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Load an image into Docker through the host's ``docker load``, under its full name.

Target side: standard library and ``ansible.module_utils`` only.

Docker 20.10 to 24 cannot load OCI archives (25 and later can), so the image goes to ``docker load``
in the ``docker save`` format, streamed on its standard input: ``manifest.json`` (Config, RepoTags,
Layers), the config as ``<hex>.json`` and each layer blob, compressed as ECR serves it (Docker
decompresses and checks it against the config's diff_ids), as ``<hex>/layer.tar``. Docker's image ID
is the config digest, so an image whose full name already has that ID is left alone. Docker keeps
no manifest of a loaded image: a name pinned by digest is something only a registry pull gives it.
"""

import json
import os
import re
import stat

from ansible_collections.airgap.ecr.plugins.module_utils.load_podman import require_tag
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_exec import Runner
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_exec import blob_file_name
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_exec import result
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_exec import stream_tar
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_image import ImageInputError

RUNTIME = "docker"
DEFAULT_SOCKET = "/var/run/docker.sock"
HOST_RE = re.compile(r"^(?:unix://(?P<socket>/[^\x00]*)|(?:tcp|ssh)://[^\s/@]+(?::[0-9]{1,5})?|ssh://[^\s/]+@[^\s/]+)$")
_HINT = "install the docker client on the host (Debian: the docker.io package) or give its path"


def save_members(image):
    """``(name, size, content)`` of the ``docker save`` tar that holds ``image`` under its full name."""
    config_file = f"{blob_file_name(image.config['digest'])}.json"
    layer_files = [f"{blob_file_name(layer['digest'])}/layer.tar" for layer in image.layers]
    manifest = json.dumps([{"Config": config_file, "RepoTags": [image.name], "Layers": layer_files}]).encode()
    members = [("manifest.json", len(manifest), manifest), (config_file, image.config["size"], image.config["digest"])]
    seen = set()
    for name, layer in zip(layer_files, image.layers):
        if name not in seen:
            seen.add(name)
            members.append((name, layer["size"], layer["digest"]))
    return members


class DockerLoader:
    """Loads images into one Docker daemon through ``docker [-H HOST] load``.

    ``host``: ``unix:///path``, ``tcp://host:port`` or ``ssh://user@host`` (default: the client's own,
    the local socket unless DOCKER_HOST says otherwise). ``docker``: the client program.
    ``environ``: extra environment variables (for example DOCKER_TLS_VERIFY and DOCKER_CERT_PATH).
    """

    def __init__(self, host=None, docker="docker", environ=None, timeout=None):
        match = HOST_RE.fullmatch(host) if isinstance(host, str) else None
        if host is not None and not match:
            raise ImageInputError(
                f"docker host {host!r} is not a Docker daemon address: expected unix:///path/to/docker.sock, "
                "tcp://host:port or ssh://user@host"
            )
        self.host, self.docker, self.environ, self.timeout = host, docker, environ, timeout
        self.socket = match.group("socket") if match else None
        if host is None and not (environ or {}).get("DOCKER_HOST") and not os.environ.get("DOCKER_HOST"):
            self.socket = DEFAULT_SOCKET

    def _check_socket(self, runner):
        if self.socket is None:
            return
        try:
            mode = os.stat(self.socket).st_mode
        except OSError:
            mode = None
        if mode is None or not stat.S_ISSOCK(mode):
            raise runner.error(
                f"Docker socket {self.socket} not found: is dockerd running? "
                "set image_fetch_docker_host to the daemon's address (unix:///path/to/docker.sock)"
            )

    def image_id(self, image, runner):
        """The image ID Docker has under ``image.name``, or None."""
        found = runner.run(["image", "inspect", "--format", "{{.Id}}", image.name], check=False)
        if found.rc == 0:
            return found.stdout.strip()
        if "no such image" in found.stderr.lower():
            return None
        raise runner.error(
            f"'docker image inspect' failed: {found.reason()}: check that dockerd is running and reachable"
        )

    def load(self, image, check_mode=False):
        """``docker load`` ``image`` (a RuntimeImage) unless its name has the config's ID; returns a result dict."""
        require_tag(image, RUNTIME)
        prefix = ["-H", self.host] if self.host else []
        runner = Runner(RUNTIME, image.name, self.docker, _HINT, prefix, self.environ, self.timeout)
        self._check_socket(runner)
        present = self.image_id(image, runner) == image.config["digest"]
        actions = [] if present else ["load (docker save format)"]
        if actions and not check_mode:
            members = save_members(image)
            runner.run(["load", "--quiet"], feed=lambda stream: stream_tar(stream, members, image))
            found = self.image_id(image, runner)
            if found != image.config["digest"]:
                raise runner.error(
                    f"after 'docker load', {image.name} has the image ID {found}, not the config digest "
                    f"{image.config['digest']}: check dockerd's log"
                )
        return result(RUNTIME, image, bool(actions), actions, check_mode, image_id=image.config["digest"])
