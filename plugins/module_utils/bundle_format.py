# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The format of a bundle: what its files are called and hold, its id, its summary and checksum list.

A bundle is a directory that crosses the gap on media::

    bundle.json      the machine-readable description (this module reads and writes it)
    SUMMARY.txt      the same for a person
    SHA256SUMS       sha256 of every other file, in the format ``sha256sum -c`` reads
    layout/          an OCI image layout holding every image of every platform (unsplit), or
    parts/bundle.tar.000 ...  that layout as one tar, cut into numbered parts (split)

Standard library only. Runs on the controller (bundles are made and read there).
"""

import json
import re

from ansible_collections.airgap.ecr.plugins.module_utils.digests import digest_of

FORMAT = "airgap.ecr.bundle"
VERSION = 1
BUNDLE_FILE = "bundle.json"
SUMMARY_FILE = "SUMMARY.txt"
SUMS_FILE = "SHA256SUMS"
LAYOUT_DIR = "layout"
PARTS_DIR = "parts"
PART_PREFIX = "bundle.tar."
MIN_PART_SIZE = 1024
_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SUM_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


class BundleError(Exception):
    """A bundle that cannot be made, read or trusted; the message names the file and what to do."""


def parse_part_size(value):
    """Bytes of a part size such as ``4G``, ``700M``, ``64K`` or ``1048576`` (binary units); None for none."""
    if value in (None, ""):
        return None
    match = re.match(r"^\s*(\d+)\s*([BKMGT]?)(?:I?B)?\s*$", str(value), re.IGNORECASE)
    size = int(match.group(1)) * _UNITS[match.group(2).upper()] if match else None
    if size is None or size < MIN_PART_SIZE:
        raise BundleError(
            f"part_size {value!r} is not a size of at least {MIN_PART_SIZE} bytes: "
            "expected a number of bytes with an optional unit K, M, G or T, such as 4G or 700M"
        )
    return size


def part_name(number):
    """``parts/bundle.tar.000`` for part 0."""
    return f"{PARTS_DIR}/{PART_PREFIX}{number:03d}"


def bundle_id(created, base_id, images, blobs):
    """The bundle's id: the sha256 of what it holds and extends, and when it was made."""
    content = {"created": created, "base": base_id, "images": images, "blobs": blobs}
    return digest_of(json.dumps(content, sort_keys=True, separators=(",", ":")))


def describe(created, base, platforms, images, blobs):
    """bundle.json's document, without parts; ``blobs`` carries ``in_bundle`` per blob."""
    base_id = base["id"] if base else None
    available = set(base["available"]) if base else set()
    available.update(blob["digest"] for blob in blobs)
    return {
        "format": FORMAT,
        "version": VERSION,
        "id": bundle_id(created, base_id, images, blobs),
        "created": created,
        "base": {"id": base_id, "name": base["name"], "created": base["created"]} if base else None,
        "platforms": platforms,
        "images": images,
        "blobs": blobs,
        # Every blob a layout holds once this bundle and all the bundles it extends are delivered.
        "available": sorted(available),
        "layout_files": {},
        "parts": None,
    }


def dumps(document):
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def loads(text, source):
    """bundle.json's document, checked enough to be used; BundleError naming ``source`` otherwise."""
    try:
        document = json.loads(text)
    except ValueError as e:
        raise BundleError(f"{source} is not JSON ({e}): it is not a bundle description; copy it again") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise BundleError(f"{source} is not the description of an {FORMAT} bundle")
    if document.get("version") != VERSION:
        raise BundleError(
            f"{source} is a bundle of format version {document.get('version')!r}; this collection reads version "
            f"{VERSION}: use the collection version that made it"
        )
    for key, kind in (("id", str), ("images", list), ("blobs", list), ("available", list), ("layout_files", dict)):
        if not isinstance(document.get(key), kind):
            raise BundleError(f"{source} has no valid {key!r}: it is damaged; copy the bundle again")
    for image in document["images"]:
        if isinstance(image, dict):  # made before images had it: the platform it names was the one asked for
            image.setdefault("bundle_platform", image.get("platform"))
    return document


def sums_text(entries):
    """SHA256SUMS text of ``[(relative path, sha256 hex)]``, sorted by path, as ``sha256sum`` writes it."""
    return "".join(f"{hexdigest}  {path}\n" for path, hexdigest in sorted(entries))


def parse_sums(text, source):
    """``{relative path: sha256 hex}`` of a SHA256SUMS text; BundleError on a line that is not a checksum."""
    sums = {}
    for number, line in enumerate(text.splitlines(), 1):
        match = _SUM_LINE.match(line)
        path = match.group(2) if match else ""
        if not match or path.startswith("/") or ".." in path.split("/"):
            raise BundleError(f"{source} line {number} is not '<sha256>  <relative path>': the list is damaged")
        sums[path] = match.group(1)
    return sums


def _size(count):
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024.0
    return str(count)  # pragma: no cover


def summary_text(document):
    """SUMMARY.txt: the images, platforms, blobs, sizes, parts, when it was made and which bundle it extends."""
    base = document["base"]
    inside = [blob for blob in document["blobs"] if blob["in_bundle"]]
    lines = [
        f"{FORMAT} bundle {document['id']}",
        f"created: {document['created']}",
        f"extends: {base['id']} ({base['name']}, created {base['created']})" if base else "extends: nothing",
        "platforms: " + ", ".join(document["platforms"]),
        f"images: {len(document['images'])}",
    ]
    for image in document["images"]:
        lines.append(f"  {image['name']}  {image['platform']}  {image['image_digest']}")
    lines.append(
        f"blobs: {len(inside)} in this bundle ({_size(sum(blob['size'] for blob in inside))})"
        + (f", {len(document['blobs']) - len(inside)} from the bundles it extends" if base else "")
    )
    parts = document["parts"]
    if parts:
        lines.append(f"parts: {len(parts['files'])} of at most {_size(parts['part_size'])}, {_size(parts['size'])}")
        lines.extend(f"  {part['name']}  {part['size']} bytes  sha256:{part['sha256']}" for part in parts["files"])
    lines.append(f"check the files: sha256sum -c {SUMS_FILE}")
    return "\n".join(lines) + "\n"
