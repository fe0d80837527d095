# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Put a set of images into one OCI layout in one run: the ``images`` option of the ``oci_layout`` module.

``image_set_request()`` checks every image before any download (positions in the messages, two
images under one ref name refused); ``write_image_set()`` downloads the union of the blobs once,
then, under the layout lock, writes each image's manifest exactly as the registry served it (and
its OCI conversion for a Docker schema 2 manifest), ``oci-layout`` and, last, ``index.json`` with
one entry per image, named by its ref name and its full name. Target side: standard library and
``ansible.module_utils`` only.
"""

from contextlib import nullcontext

from ansible_collections.airgap.ecr.plugins.module_utils.digests import digest_of
from ansible_collections.airgap.ecr.plugins.module_utils.downloader import STATUS_FETCHED
from ansible_collections.airgap.ecr.plugins.module_utils.downloader import STATUS_WOULD_FETCH
from ansible_collections.airgap.ecr.plugins.module_utils.image_layout import ImageLayoutError
from ansible_collections.airgap.ecr.plugins.module_utils.image_layout import converge_files
from ansible_collections.airgap.ecr.plugins.module_utils.image_layout import fetch_needed_blobs
from ansible_collections.airgap.ecr.plugins.module_utils.image_layout import manifest_blobs
from ansible_collections.airgap.ecr.plugins.module_utils.image_layout import write_archive
from ansible_collections.airgap.ecr.plugins.module_utils.image_layout import write_files
from ansible_collections.airgap.ecr.plugins.module_utils.layout import INDEX_FILE
from ansible_collections.airgap.ecr.plugins.module_utils.layout import OCI_LAYOUT_CONTENT
from ansible_collections.airgap.ecr.plugins.module_utils.layout import OCI_LAYOUT_FILE
from ansible_collections.airgap.ecr.plugins.module_utils.layout import index_entry
from ansible_collections.airgap.ecr.plugins.module_utils.layout import merged_index
from ansible_collections.airgap.ecr.plugins.module_utils.layout_index import index_manifests
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import ManifestError
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import parse_manifest
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import parse_platform
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import to_oci_manifest
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_image import ImageInputError
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_image import split_name
from ansible_collections.airgap.ecr.plugins.module_utils.target_module import download_request
from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_digest
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_image_tag

IMAGE_KEYS = ("manifest", "media_type", "source_digest", "ref_name", "name", "platform")
# The keys of an entry of ecr_image_layers' ``images`` besides these: accepted and ignored, so that its entries can
# be given as they are (with ``image_digest``, an alias of ``source_digest``).
RESOLVED_KEYS = ("repository", "tag", "digest", "registry_id", "digest_name", "index_digest", "config", "layers")
# The suboptions of oci_layout's ``images``: all checked by image_set_request, for messages with positions.
IMAGE_OPTION_SPEC = dict(
    {key: {"type": "str"} for key in IMAGE_KEYS},
    source_digest={"type": "str", "aliases": ["image_digest"]},
    **{key: {"type": "raw"} for key in RESOLVED_KEYS},
)
# The options that describe the one image of a run without ``images`` (mutually exclusive with it).
SINGLE_IMAGE_OPTIONS = ("manifest", "ref_name", "source_digest", "media_type", "platform")


def _platform(text):
    platform = parse_platform(text)
    if not platform["variant"]:
        platform.pop("variant")
    return platform


def _source(entry, where):
    """The parsed manifest, its digest and its OCI form; raises ValidationError naming ``where``."""
    text = entry.get("manifest")
    if not isinstance(text, str) or not text:
        raise ValidationError(f"{where}.manifest is required: the image manifest's exact text, got {text!r}")
    try:
        parsed = parse_manifest(text, entry.get("media_type"))
        if parsed["kind"] != "image":
            raise ManifestError("it is an image index; give the manifest of one platform (ecr_image_layers selects it)")
        converted = to_oci_manifest(text, entry.get("media_type"))
    except ManifestError as e:
        raise ValidationError(f"{where}.manifest cannot be used: {e}") from None
    digest = digest_of(text)
    if entry.get("source_digest") is not None:
        validate_digest(entry["source_digest"], option=f"{where}.source_digest")
        if entry["source_digest"] != digest:
            raise ValidationError(
                f"{where}.manifest has the digest {digest}, not {where}.source_digest {entry['source_digest']}: "
                "give the manifest's exact text as the registry served it (in a template, '| string')"
            )
    return parsed, digest, converted


def _image(entry, where):
    """One entry of ``images`` checked: a dict of what write_image_set needs; raises ValidationError."""
    if not isinstance(entry, dict):
        raise ValidationError(f"{where} must be a dictionary with manifest and name, got {entry!r}")
    unknown = sorted(key for key in entry if key not in IMAGE_KEYS + RESOLVED_KEYS + ("image_digest",))
    if unknown:
        raise ValidationError(f"{where} has unknown keys {unknown}: expected {', '.join(IMAGE_KEYS)}")
    parsed, digest, converted = _source(entry, where)
    try:
        _repository, tag, _digest = split_name(entry.get("name"))
    except ImageInputError as e:
        raise ValidationError(f"{where}.name: {e}") from None
    ref_name = entry.get("ref_name") or tag
    if ref_name is None:
        raise ValidationError(f"{where}.name {entry['name']!r} has no tag: give {where}.ref_name")
    validate_image_tag(ref_name, option=f"{where}.ref_name")
    try:
        platform = _platform(entry["platform"]) if entry.get("platform") else None
    except ManifestError as e:
        raise ValidationError(f"{where}.platform: {e}") from None
    return dict(
        name=entry["name"],
        ref_name=ref_name,
        manifest=entry["manifest"],
        source=parsed,
        source_digest=digest,
        converted=converted,
        platform=platform,
    )


def _check_distinct(images):
    """Refuse two images of the set under one full name or one ref name, naming both."""
    for key, advice in (("name", "give each image its own name"), ("ref_name", "give one of them a ref_name")):
        seen = {}
        for position, image in enumerate(images):
            first = seen.setdefault(image[key], position)
            if first != position:
                raise ValidationError(
                    f"images[{first}] ({images[first]['name']}) and images[{position}] ({image['name']}) both have "
                    f"the {key} {image[key]!r}: {advice}"
                )


def image_set_request(params):
    """The checked request of oci_layout's ``images`` and download options; raises ValidationError.

    Nothing is downloaded or written before every image is known to be usable.
    """
    entries = params["images"]
    if not isinstance(entries, list) or not entries:
        raise ValidationError(f"images must be a non-empty list of images ({{manifest, name}}), got {entries!r}")
    images = [_image(entry, f"images[{position}]") for position, entry in enumerate(entries)]
    _check_distinct(images)
    request = dict(images=images, blobs=None, concurrency=None)
    if params["blobs"] is not None:
        request["blobs"], request["concurrency"] = download_request(params)
    return request


def needed_blobs(images):
    """``{digest: size}`` of the blobs the set's manifests need, each once."""
    needed = {}
    for image in images:
        needed.update(manifest_blobs(image["source"]))
    return needed


def _planned(images, entries):
    """The manifests to write, ``(kind, digest, text)`` each once: every source, and every OCI conversion."""
    blobs = {}
    for image, entry in zip(images, entries):
        blobs.setdefault(image["source_digest"], image["manifest"])
        blobs.setdefault(entry["digest"], image["converted"][0])
    return [("blob", digest, text) for digest, text in blobs.items()]


def _entries(images):
    return [
        index_entry(
            image["converted"][0],
            image["converted"][1],
            image["ref_name"],
            image["platform"],
            image["source_digest"],
            image["source"]["media_type"],
            name=image["name"],
        )
        for image in images
    ]


def _image_results(layout, images, entries, existing, touched):
    """Per image: its names and digests, and whether this run writes (or would write) anything of it."""
    results = []
    for image, entry in zip(images, entries):
        paths = {layout.blob_path(image["source_digest"]), layout.blob_path(entry["digest"])}
        own = set(manifest_blobs(image["source"]))
        results.append(
            dict(
                name=image["name"],
                ref_name=image["ref_name"],
                manifest_digest=entry["digest"],
                source_digest=image["source_digest"],
                converted=entry["digest"] != image["source_digest"],
                changed=entry not in existing or bool(paths & touched["files"]) or bool(own & touched["blobs"]),
            )
        )
    return results


def _touched_blobs(downloaded, missing):
    """The digests a download fetched (or would fetch), and those missing in check mode."""
    statuses = (STATUS_FETCHED, STATUS_WOULD_FETCH)
    fetched = {blob["digest"] for blob in (downloaded or {}).get("blobs", []) if blob.get("status") in statuses}
    return fetched | set(missing)


def write_image_set(layout, params, request, check_mode):
    """Fetch the listed blobs once, then write every image's manifests, oci-layout and index.json, and the archive.

    Everything is written under the layout lock, index.json last, so a layout that a tool can
    open is complete; in check mode nothing is written and the result says what would be.
    """
    images = request["images"]
    needed = needed_blobs(images)
    downloaded = fetch_needed_blobs(layout, params, request, needed, check_mode)
    missing = [digest for digest, size in needed.items() if layout.blob_size(digest) != size]
    if missing and not check_mode:
        raise ImageLayoutError(
            f"the layout at {layout.root} lacks blobs the manifests need "
            "(list them in blobs, or fetch them first with airgap.ecr.blob_fetch): " + ", ".join(missing),
            missing=missing,
        )
    entries = _entries(images)
    with nullcontext() if check_mode else layout.locked():
        existing_text = layout.read_text(INDEX_FILE)
        planned = _planned(images, entries) + [
            ("file", OCI_LAYOUT_FILE, OCI_LAYOUT_CONTENT),
            ("file", INDEX_FILE, merged_index(existing_text, entries, layout.path_of(INDEX_FILE))),  # last
        ]
        files = write_files(layout, planned, check_mode)
        touched = dict(files=set(files), blobs=_touched_blobs(downloaded, missing))
        result = dict(
            changed=bool(files) or bool(touched["blobs"]) or bool(downloaded and downloaded.pop("changed")),
            missing=missing,
            images=_image_results(layout, images, entries, index_manifests(existing_text), touched),
            files=files,
        )
        if downloaded is not None:
            downloaded.pop("changed", None)
            result["download"] = downloaded
        result = write_archive(layout, params["archive"], result, check_mode)
        digests = list(needed) + [digest for _kind, digest, _text in planned[:-2]]
        return converge_files(layout, digests, result, check_mode)
