# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Image manifests: media types, parsing, digest verification and platform selection.

Pure functions on text; nothing here talks to the network. The rules follow the OCI image
specification (image manifest, image index, descriptors, platform) and Docker's registry
v2 schema 2 (manifest and manifest list).
"""

import json
import re

from ansible_collections.airgap.ecr.plugins.module_utils.digests import ALGORITHMS
from ansible_collections.airgap.ecr.plugins.module_utils.digests import digest_of
from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_digest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"

IMAGE_MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
# What BatchGetImage is asked to return, most specific first.
ACCEPTED_MEDIA_TYPES = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST]

# Layer media types whose bytes may live outside the registry (their descriptors carry urls).
FOREIGN_LAYER_TYPES = (
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
)

_PLATFORM_PART_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
# Architectures whose variant is implied when a manifest omits it (as container runtimes
# normalise them): arm64 is v8, arm is v7.
_DEFAULT_VARIANTS = {"arm64": "v8", "arm": "v7"}


class ManifestError(ValueError):
    """A manifest that cannot be used; the message says why."""


def verify_digest(text, expected, what="manifest"):
    """Raise ManifestError unless ``text``'s bytes have the digest ``expected``."""
    algorithm = expected.split(":", 1)[0]
    if algorithm not in ALGORITHMS:
        raise ManifestError(f"{what} digest {expected!r} uses the unsupported algorithm {algorithm!r}")
    actual = digest_of(text, algorithm)
    if actual != expected:
        raise ManifestError(
            f"{what} bytes have the digest {actual}, not {expected} as expected: the manifest was altered or corrupted"
        )


def parse_platform(text):
    """``os/architecture[/variant]`` -> ``{"os", "architecture", "variant"}`` (variant may be None)."""
    parts = text.split("/") if isinstance(text, str) else []
    if len(parts) not in (2, 3) or not all(_PLATFORM_PART_RE.fullmatch(part) for part in parts):
        raise ManifestError(
            f"platform {text!r} is not of the form os/architecture[/variant] in lowercase, "
            "for example 'linux/amd64' or 'linux/arm64/v8'"
        )
    return {"os": parts[0], "architecture": parts[1], "variant": parts[2] if len(parts) == 3 else None}


def format_platform(platform):
    """``{"os", "architecture", "variant"}`` -> ``os/architecture[/variant]``."""
    text = f"{platform.get('os')}/{platform.get('architecture')}"
    return f"{text}/{platform['variant']}" if platform.get("variant") else text


def _normalised_variant(platform):
    return platform.get("variant") or _DEFAULT_VARIANTS.get(platform.get("architecture"))


def platform_matches(wanted, offered):
    """Whether an index entry's ``platform`` satisfies the ``wanted`` one.

    OS and architecture must be equal. When a variant is wanted, the entry's variant, or
    the one implied by its architecture (arm64 -> v8, arm -> v7), must be equal; when none
    is wanted, any variant of that architecture matches.
    """
    if offered.get("os") != wanted["os"] or offered.get("architecture") != wanted["architecture"]:
        return False
    if not wanted.get("variant"):
        return True
    return _normalised_variant(offered) == _normalised_variant(wanted)


def _descriptor(value, where):
    if not isinstance(value, dict):
        raise ManifestError(f"{where} is not a descriptor object")
    digest, media_type, size = value.get("digest"), value.get("mediaType"), value.get("size")
    if not isinstance(digest, str) or ":" not in digest:
        raise ManifestError(f"{where} has no valid digest")
    try:
        # A descriptor's digest becomes a path in a layout: only algorithm:hex of the right length.
        validate_digest(digest, option=f"the manifest's {where}.digest")
    except ValidationError as e:
        raise ManifestError(str(e)) from None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ManifestError(f"{where} ({digest}) has no valid size")
    result = {"digest": digest, "media_type": media_type, "size": size}
    if value.get("urls"):
        result["urls"] = list(value["urls"])
    if isinstance(value.get("platform"), dict):
        result["platform"] = value["platform"]
    if isinstance(value.get("annotations"), dict):
        result["annotations"] = value["annotations"]
    return result


def parse_manifest(text, media_type=None):
    """Parse a manifest or index.

    Returns ``{"kind": "image"|"index", "media_type", "config", "layers"}`` for an image, or
    ``{"kind": "index", "media_type", "manifests"}`` for an index; ``media_type`` is the
    one the manifest declares, else the one the registry reported. Raises ManifestError
    for malformed JSON, Docker schema 1, and media types that are not images or indexes.
    """
    try:
        document = json.loads(text)
    except ValueError as e:
        raise ManifestError(f"the manifest is not valid JSON: {e}") from None
    if not isinstance(document, dict):
        raise ManifestError("the manifest is not a JSON object")
    declared = document.get("mediaType") or media_type
    if declared in (DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED) or document.get("schemaVersion") == 1:
        raise ManifestError(
            "the image uses Docker image manifest schema 1, which is deprecated and not supported; "
            "push it again with a current client (schema 2 or OCI)"
        )
    if declared is None:
        # An OCI manifest may omit mediaType: tell image from index by its fields.
        declared = OCI_INDEX if "manifests" in document else OCI_MANIFEST if "layers" in document else None
    if declared in INDEX_TYPES:
        entries = document.get("manifests")
        if not isinstance(entries, list):
            raise ManifestError("the image index has no 'manifests' list")
        return {
            "kind": "index",
            "media_type": declared,
            "manifests": [_descriptor(entry, f"manifests[{i}]") for i, entry in enumerate(entries)],
        }
    if declared in IMAGE_MANIFEST_TYPES:
        return _image_manifest(document, declared)
    raise ManifestError(
        f"the manifest's media type {declared!r} is not supported: expected an OCI image manifest or index, "
        "or a Docker v2 schema 2 manifest or manifest list"
    )


def _image_manifest(document, media_type):
    """The parsed form of an image manifest's JSON document."""
    layers = document.get("layers")
    if not isinstance(layers, list):
        raise ManifestError("the image manifest has no 'layers' list")
    parsed_layers = [_descriptor(layer, f"layers[{i}]") for i, layer in enumerate(layers)]
    for layer in parsed_layers:
        # Foreign by media type only: OCI allows urls on any descriptor as extra locations of a
        # blob that is in the registry too, and an air-gapped host may not reach those.
        layer["foreign"] = layer["media_type"] in FOREIGN_LAYER_TYPES
    return {
        "kind": "image",
        "media_type": media_type,
        "config": _descriptor(document.get("config"), "config"),
        "layers": parsed_layers,
    }


def _is_attestation(entry):
    annotations = entry.get("annotations") or {}
    platform = entry.get("platform") or {}
    return annotations.get("vnd.docker.reference.type") == "attestation-manifest" or (
        platform.get("os") == "unknown" and platform.get("architecture") == "unknown"
    )


def available_platforms(index):
    """The platforms an index offers, as ``os/architecture[/variant]`` strings, in index order."""
    return [
        format_platform(entry["platform"])
        for entry in index["manifests"]
        if entry.get("platform") and not _is_attestation(entry)
    ]


def select_platform(index, wanted):
    """The index entry for the ``wanted`` platform (a dict from parse_platform).

    Raises ManifestError listing the available platforms when none matches. When several
    match (for example arm64 with and without variant), the first in the index wins, as
    container runtimes do.
    """
    for entry in index["manifests"]:
        if entry.get("platform") and not _is_attestation(entry) and platform_matches(wanted, entry["platform"]):
            return entry
    offered = available_platforms(index)
    raise ManifestError(
        f"the image index has no manifest for platform {format_platform(wanted)}; it offers "
        + (", ".join(offered) if offered else "no platforms")
    )


DOCKER_TO_OCI = {
    "application/vnd.docker.container.image.v1+json": "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": (
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    ),
}


def _oci_descriptor(descriptor, where):
    media_type = descriptor.get("mediaType")
    if media_type not in DOCKER_TO_OCI:
        raise ManifestError(f"{where} has the media type {media_type!r}, which has no OCI equivalent here")
    converted = {"mediaType": DOCKER_TO_OCI[media_type], "digest": descriptor["digest"], "size": descriptor["size"]}
    if descriptor.get("urls"):
        converted["urls"] = list(descriptor["urls"])
    return converted


def to_oci_manifest(text, media_type=None):
    """An image manifest in OCI media types: ``(text, media_type)``.

    An OCI manifest is returned unchanged (byte for byte). A Docker v2 schema 2 manifest is
    rewritten with the OCI media types of its config and layers; the blobs, their digests
    and sizes are unchanged, so only the manifest (and so its digest) is new. The output
    is deterministic: the same input always gives the same bytes.
    """
    parsed = parse_manifest(text, media_type)
    if parsed["kind"] != "image":
        raise ManifestError("an image manifest is needed here, not an index")
    if parsed["media_type"] == OCI_MANIFEST:
        return text, OCI_MANIFEST
    if parsed["media_type"] != DOCKER_MANIFEST:
        raise ManifestError(f"cannot convert a manifest of media type {parsed['media_type']!r}")
    document = json.loads(text)
    converted = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": _oci_descriptor(document["config"], "the config"),
        "layers": [_oci_descriptor(layer, f"layers[{i}]") for i, layer in enumerate(document["layers"])],
    }
    return json.dumps(converted, indent=2) + "\n", OCI_MANIFEST
