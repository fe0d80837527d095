# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test images for the runtime loaders, built in Python and deterministic.

Two single-platform images that share their base layer: one in Docker schema 2 media types and
one in OCI media types. Each is a ``RuntimeImage`` whose blobs are read from memory, as the
layout owner would hand them over, plus the raw parts the tests compare against.
"""

import gzip
import hashlib
import io
import json
import tarfile

from ansible_collections.airgap.ecr.plugins.module_utils.runtime_image import RuntimeImage

DOCKER = {
    "manifest": "application/vnd.docker.distribution.manifest.v2+json",
    "config": "application/vnd.docker.container.image.v1+json",
    "layer": "application/vnd.docker.image.rootfs.diff.tar.gzip",
}
OCI = {
    "manifest": "application/vnd.oci.image.manifest.v1+json",
    "config": "application/vnd.oci.image.config.v1+json",
    "layer": "application/vnd.oci.image.layer.v1.tar+gzip",
}
# The registry host the names carry (with a port, as a name may): a reserved .test name nothing contacts.
ECR_HOST = "ecr.airgap.test:5000"
EPOCH = 1700000000


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer(files):
    """A gzip'd tar of ``{path: bytes}``: ``(compressed, diff_id)``."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = len(data), EPOCH, 0o755
            tar.addfile(info, io.BytesIO(data))
    plain = raw.getvalue()
    return gzip.compress(plain, mtime=0), digest(plain)


class BuiltImage:
    """A test image: its blobs in memory and the ``RuntimeImage`` over them."""

    def __init__(self, repository, tag, flavour, layers, marker):
        self.repository, self.tag, self.flavour = repository, tag, flavour
        self.blobs = {}
        config = {
            "architecture": "amd64",
            "os": "linux",
            "created": "2023-11-14T22:13:20Z",
            "config": {"Cmd": ["/bin/app"], "Labels": {"test.marker": marker}},
            "rootfs": {"type": "layers", "diff_ids": [pair[1] for pair in layers]},
        }
        self.config = json.dumps(config, sort_keys=True).encode()
        self.config_digest = self._add(self.config)
        manifest = {
            "schemaVersion": 2,
            "mediaType": flavour["manifest"],
            "config": {"mediaType": flavour["config"], "digest": self.config_digest, "size": len(self.config)},
            "layers": [
                {"mediaType": flavour["layer"], "digest": self._add(pair[0]), "size": len(pair[0])} for pair in layers
            ],
        }
        # Indented like a registry's JSON, so that any re-serialisation would change the digest.
        self.manifest = json.dumps(manifest, indent=3).encode()
        self.digest = digest(self.manifest)
        self.name = f"{ECR_HOST}/{repository}:{tag}"
        self.pinned = f"{ECR_HOST}/{repository}@{self.digest}"
        self.opened = []

    def _add(self, data):
        self.blobs[digest(data)] = data
        return digest(data)

    def open_blob(self, blob_digest):
        self.opened.append(blob_digest)
        return io.BytesIO(self.blobs[blob_digest])

    def runtime_image(self, name=None):
        return RuntimeImage(self.manifest, self.flavour["manifest"], self.digest, self.open_blob, name or self.name)

    def layer_digests(self):
        return [entry["digest"] for entry in json.loads(self.manifest)["layers"]]


def noise(seed, size):
    """``size`` bytes that do not compress, the same for the same seed."""
    out, block = bytearray(), hashlib.sha256(seed.encode()).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


def build_pair(prefix="runtimes"):
    """Two images sharing a base layer: ``(docker_schema2_image, oci_image)``."""
    base = layer({"etc/os-release": b"NAME=airgap-test\n", "bin/app": b"#!/bin/sh\necho base\n"})
    # The top layers are the test's own, so that no runtime already has them from another test.
    one = layer({"srv/one.txt": b"image one\n" * 100, "srv/test": prefix.encode()})
    two = layer(
        {"srv/two.txt": b"image two\n" * 200, "srv/data.bin": noise(prefix, 48 * 1024), "srv/test": prefix.encode()}
    )
    return (
        BuiltImage(f"{prefix}/one", "1.0", DOCKER, [base, one], f"{prefix}-one"),
        BuiltImage(f"{prefix}/two", "2.0", OCI, [base, two], f"{prefix}-two"),
    )
