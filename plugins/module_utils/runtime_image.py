# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The image the runtime loaders and the registry client take, and the errors they raise.

Target side: standard library and ``ansible.module_utils`` only.

A ``RuntimeImage`` is one platform's image as ECR serves it: the exact manifest bytes (a Docker
schema 2 or OCI image manifest, never an index), their media type and digest, a reader for its
config and layer blobs, and the names to give it. The caller (the OCI layout owner) has verified
every blob; the loaders never re-serialise the manifest, so every runtime keeps ECR's digest.
"""

import json
import re

from ansible_collections.airgap.ecr.plugins.module_utils.digests import digest_of
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import IMAGE_MANIFEST_TYPES
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import ManifestError
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import parse_manifest

_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]{1,5})?"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"sha256:[a-f0-9]{64}"
# <registry host>[:port]/<path>, then :<tag> or @<digest>; the host must look like one (a dot, a port or
# "localhost") so that no runtime prepends its default registry.
NAME_RE = re.compile(
    rf"^(?P<repository>(?P<domain>{_DOMAIN})/{_COMPONENT}(?:/{_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG})|@(?P<digest>{_DIGEST}))$"
)
# The config blob is JSON of a few kilobytes; a larger one is not an image config.
MAX_CONFIG_BYTES = 8 * 1024 * 1024


class ImageDeliveryError(Exception):
    """Loading or pushing an image failed; the message names where, the image and what to do.

    It never holds a credential or a URL with one.
    """

    def __init__(self, target, image, detail):
        self.target, self.image, self.detail = target, image, detail
        super().__init__(f"{target}: {image}: {detail}")


class RuntimeLoadError(ImageDeliveryError):
    """A container runtime (containerd, podman, Docker) is missing or refused the image."""


class ImageInputError(ValueError):
    """A RuntimeImage built from bad input; raised before any runtime or registry is called."""


def split_name(name):
    """``<host>/<path>:<tag>`` or ``<host>/<path>@sha256:<hex>`` -> ``(repository, tag, digest)``.

    ``repository`` is ``<host>/<path>``; one of ``tag`` and ``digest`` is None.
    """
    match = NAME_RE.fullmatch(name) if isinstance(name, str) else None
    domain = match.group("domain") if match else ""
    if (
        not match
        or not ("." in domain or ":" in domain or domain == "localhost")
        or len(match.group("repository")) > 255
    ):
        raise ImageInputError(
            f"image name {name!r} is not a full image reference: expected <registry host>/<repository>:<tag> or "
            "<registry host>/<repository>@sha256:<64 hex>, the registry host with a dot or a port (the image's "
            "ECR reference, or the name it is given)"
        )
    return match.group("repository"), match.group("tag"), match.group("digest")


class RuntimeImage:
    """One single-platform image, as the loaders and the registry client take it.

    ``manifest``: the manifest's exact bytes as ECR served them. ``media_type``: the Docker schema 2
    or OCI image manifest media type. ``digest``: ``sha256:<hex>`` of those bytes (checked here).
    ``open_blob(digest)``: returns a readable binary file object with the blob's verified content
    (config and layers); the loaders close it. ``name``: the full name, ``<host>/<repository>:<tag>``
    or ``<host>/<repository>@<digest>`` (that digest must be this manifest's). ``pinned_name`` is
    ``<host>/<repository>@<digest>``, the name pods pinned by digest look up.
    """

    def __init__(self, manifest, media_type, digest, open_blob, name):
        if isinstance(manifest, str):
            manifest = manifest.encode("utf-8")
        if not isinstance(manifest, bytes) or not manifest:
            raise ImageInputError(f"the manifest of {name!r} must be its exact bytes, got {type(manifest).__name__}")
        self.repository, self.tag, name_digest = split_name(name)
        self.name, self.manifest, self.media_type, self.digest = name, manifest, media_type, digest
        if media_type not in IMAGE_MANIFEST_TYPES:
            raise ImageInputError(
                f"{name}: media type {media_type!r} is not an image manifest: expected one of "
                + ", ".join(IMAGE_MANIFEST_TYPES)
                + " (select the host's platform from an index first)"
            )
        if not isinstance(digest, str) or digest != digest_of(manifest):
            raise ImageInputError(
                f"{name}: digest {digest!r} is not the sha256 of the manifest bytes ({digest_of(manifest)})"
            )
        if name_digest is not None and name_digest != digest:
            raise ImageInputError(
                f"image name {name!r} pins the digest {name_digest}, but the manifest's digest is {digest}"
            )
        if not callable(open_blob):
            raise ImageInputError(f"{name}: open_blob must be a callable taking a digest, got {open_blob!r}")
        self.open_blob = open_blob
        self.parsed = self._parse()

    def _parse(self):
        try:
            parsed = parse_manifest(self.manifest.decode("utf-8"), self.media_type)
        except (ManifestError, UnicodeDecodeError) as e:
            raise ImageInputError(f"{self.name}: the manifest cannot be used: {e}") from None
        if parsed["kind"] != "image" or parsed["media_type"] != self.media_type:
            raise ImageInputError(
                f"{self.name}: the manifest declares {parsed['media_type']!r}, "
                f"not the media type given, {self.media_type!r}"
            )
        for descriptor in [parsed["config"]] + parsed["layers"]:
            if not re.fullmatch(_DIGEST, descriptor["digest"]):
                raise ImageInputError(
                    f"{self.name}: blob digest {descriptor['digest']!r} is not sha256:<64 lowercase hex>"
                )
        return parsed

    @property
    def pinned_name(self):
        """``<host>/<repository>@<manifest digest>``."""
        return f"{self.repository}@{self.digest}"

    @property
    def config(self):
        """The config descriptor: ``{"digest", "media_type", "size"}``."""
        return self.parsed["config"]

    @property
    def layers(self):
        """The layer descriptors, in order."""
        return self.parsed["layers"]

    def blobs(self):
        """Config and layer descriptors, each distinct digest once, config first."""
        seen, result = set(), []
        for descriptor in [self.config] + self.layers:
            if descriptor["digest"] not in seen:
                seen.add(descriptor["digest"])
                result.append(descriptor)
        return result

    def read_config(self):
        """The config blob's bytes (bounded by its descriptor's size)."""
        size = self.config["size"]
        if size > MAX_CONFIG_BYTES:
            raise ImageInputError(f"{self.name}: the config blob is {size} bytes, more than an image config can be")
        with self.open_blob(self.config["digest"]) as handle:
            data = handle.read(size + 1)
        if len(data) != size or digest_of(data) != self.config["digest"]:
            raise ImageInputError(
                f"{self.name}: the config blob {self.config['digest']} read back does not match its descriptor"
            )
        return data

    def platform(self):
        """``{"os", "architecture"[, "variant"]}`` from the config, for an index entry."""
        try:
            config = json.loads(self.read_config())
        except ValueError:
            raise ImageInputError(f"{self.name}: the config blob {self.config['digest']} is not JSON") from None
        platform = {key: config[key] for key in ("os", "architecture", "variant") if isinstance(config.get(key), str)}
        return platform if "os" in platform and "architecture" in platform else None

    def describe(self):
        """Short text for messages: the name and the digest."""
        return self.name if self.tag is None else f"{self.name} ({self.digest})"
