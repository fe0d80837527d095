# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an image manifest references, as the ECR handlers need it."""

import json

SCHEMA1_MEDIA_TYPES = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)


def describe_manifest(text):
    """What an image manifest references: {"kind": "image"|"index"|"schema1"|"unknown", ...}."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return {"kind": "unknown", "media_type": None, "config": None, "layers": [], "manifests": []}
    if not isinstance(parsed, dict):
        return {"kind": "unknown", "media_type": None, "config": None, "layers": [], "manifests": []}

    def entry(item):
        item = item if isinstance(item, dict) else {}
        return {"digest": item.get("digest"), "size": item.get("size"), "media_type": item.get("mediaType")}

    info = {"media_type": parsed.get("mediaType"), "config": None, "layers": [], "manifests": []}
    if isinstance(parsed.get("manifests"), list):
        info["kind"] = "index"
        for item in parsed["manifests"]:
            child = entry(item)
            if isinstance(item, dict) and item.get("platform"):
                child["platform"] = item["platform"]
            info["manifests"].append(child)
    elif parsed.get("schemaVersion") == 1:
        info["kind"] = "schema1"
        info["layers"] = [
            {"digest": item.get("blobSum"), "size": None, "media_type": None}
            for item in parsed.get("fsLayers") or []
            if isinstance(item, dict)
        ]
    else:
        info["kind"] = "image"
        if isinstance(parsed.get("config"), dict):
            info["config"] = entry(parsed["config"])
        info["layers"] = [entry(item) for item in parsed.get("layers") or []]
    return info


def referenced_blobs(info, include_foreign=True):
    """Digests of the blobs (config and layers) an image manifest references."""
    blobs = []
    if info["config"] and info["config"]["digest"]:
        blobs.append(info["config"]["digest"])
    for layer in info["layers"]:
        foreign = "foreign" in (layer["media_type"] or "") or "nondistributable" in (layer["media_type"] or "")
        if layer["digest"] and (include_foreign or not foreign):
            blobs.append(layer["digest"])
    return blobs


def tampered_manifests(payload):
    """A BatchGetImage answer whose manifests have a space added before their last '}': still JSON, not their digest."""
    for image in payload.get("images", []):
        text = image.get("imageManifest") or ""
        end = text.rfind("}")
        image["imageManifest"] = text[:end] + " " + text[end:] if end >= 0 else text + " "
    return payload
