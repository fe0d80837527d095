# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Put one image into an OCI layout: its blobs (downloaded or found in place), its manifest, index.json.

The ``oci_layout`` module's work, without Ansible: ``image_request()`` checks the options,
``write_image()`` does the rest through the layout owner (``layout.py``) and the downloader.
Runs on target hosts: standard library and ``ansible.module_utils`` only.
"""

from contextlib import nullcontext

from ansible_collections.airgap.ecr.plugins.module_utils.digests import digest_of
from ansible_collections.airgap.ecr.plugins.module_utils.download_batch import failure_message
from ansible_collections.airgap.ecr.plugins.module_utils.layout import INDEX_FILE
from ansible_collections.airgap.ecr.plugins.module_utils.layout import OCI_LAYOUT_CONTENT
from ansible_collections.airgap.ecr.plugins.module_utils.layout import OCI_LAYOUT_FILE
from ansible_collections.airgap.ecr.plugins.module_utils.layout import index_entry
from ansible_collections.airgap.ecr.plugins.module_utils.layout import merged_index
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import parse_manifest
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import parse_platform
from ansible_collections.airgap.ecr.plugins.module_utils.manifest import to_oci_manifest
from ansible_collections.airgap.ecr.plugins.module_utils.target_module import download
from ansible_collections.airgap.ecr.plugins.module_utils.target_module import download_request
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_digest
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_image_tag


class ImageLayoutError(Exception):
    """The image cannot be written; ``details`` go into the failed result next to the message."""

    def __init__(self, message, **details):
        super().__init__(message)
        self.details = details


def image_request(params):
    """The checked request of the oci_layout options; raises ValidationError or ManifestError."""
    validate_image_tag(params["ref_name"], option="ref_name")
    if params["source_digest"] is not None:
        validate_digest(params["source_digest"], option="source_digest")
    platform = parse_platform(params["platform"]) if params["platform"] else None
    if platform and not platform["variant"]:
        platform.pop("variant")
    request = dict(
        platform=platform,
        source=parse_manifest(params["manifest"], params["media_type"]),
        converted=to_oci_manifest(params["manifest"], params["media_type"]),
        blobs=None,
        concurrency=None,
    )
    if params["blobs"] is not None:
        request["blobs"], request["concurrency"] = download_request(params)
    return request


def manifest_blobs(parsed):
    """``{digest: size}`` of the blobs a layout of the manifest must hold (config and non-foreign layers), in order."""
    wanted = [parsed["config"]] + [layer for layer in parsed["layers"] if not layer.get("foreign")]
    return {blob["digest"]: blob["size"] for blob in wanted}


def missing_blobs(layout, parsed):
    """Blobs the manifest needs that are not in the layout with their size."""
    return [digest for digest, size in manifest_blobs(parsed).items() if layout.blob_size(digest) != size]


def fetch_image_blobs(layout, params, request, check_mode):
    """Download the listed blobs of one image; see ``fetch_needed_blobs``."""
    return fetch_needed_blobs(layout, params, request, manifest_blobs(request["source"]), check_mode)


def fetch_needed_blobs(layout, params, request, needed, check_mode):
    """Download the listed blobs; the download result without ``failures`` and ``changed``, or None.

    ``needed`` (``{digest: size}``) are the blobs the manifests need: each must be listed or in place.
    """
    blobs = request["blobs"]
    if not blobs:
        return None
    for blob in blobs:
        if blob["size"] is None and blob["digest"] in needed:
            blob["size"] = needed[blob["digest"]]  # the manifest's size is enforced on the download
    listed = {blob["digest"] for blob in blobs}
    unlisted = [digest for digest, size in needed.items() if digest not in listed and layout.blob_size(digest) != size]
    if unlisted:
        raise ImageLayoutError(
            f"blobs does not list every blob the manifest needs, and the layout at {layout.root} lacks: "
            + ", ".join(unlisted),
            missing=unlisted,
        )
    downloaded = download(params, blobs, request["concurrency"], layout, check_mode)
    failures = downloaded.pop("failures")
    if failures:
        raise ImageLayoutError(failure_message(failures, len(blobs)), download=dict(downloaded, failures=failures))
    return downloaded


def write_files(layout, planned, check_mode):
    """Write each ``(kind, name, text)`` whose content differs; index.json comes last. Returns the paths written."""
    written = []
    for kind, name, text in planned:
        current = layout.blob_text(name) if kind == "blob" else layout.read_text(name)
        if current == text:
            continue
        written.append(layout.blob_path(name) if kind == "blob" else layout.path_of(name))
        if check_mode:
            continue
        if kind == "blob":
            layout.write_blob_text(name, text)
        else:
            layout.write_text(name, text)
    return written


def write_image(layout, params, request, check_mode):
    """Fetch the image's blobs (when listed), write its manifest, oci-layout and index.json, and the archive.

    The index is read, merged and replaced, and the archive compared and written, under the layout
    lock: two runs adding different names to one layout both keep their entry.
    """
    downloaded = fetch_image_blobs(layout, params, request, check_mode)
    # Conversion keeps every blob (digest, size, foreign or not), so the source's list serves.
    missing = missing_blobs(layout, request["source"])
    if missing and not check_mode:  # in check mode, the download has not written them either
        raise ImageLayoutError(
            f"the layout at {layout.root} lacks blobs the manifest needs "
            "(fetch them first, with airgap.ecr.blob_fetch): " + ", ".join(missing),
            missing=missing,
        )
    text, media_type = request["converted"]
    source_digest = params["source_digest"] or digest_of(params["manifest"])
    entry = index_entry(
        text, media_type, params["ref_name"], request["platform"], source_digest, request["source"]["media_type"]
    )
    with nullcontext() if check_mode else layout.locked():
        planned = [
            ("blob", entry["digest"], text),
            *source_blob(params, text, source_digest),
            ("file", OCI_LAYOUT_FILE, OCI_LAYOUT_CONTENT),
            # last: the layout is complete once it is there
            ("file", INDEX_FILE, merged_index(layout.read_text(INDEX_FILE), entry, layout.path_of(INDEX_FILE))),
        ]
        files = write_files(layout, planned, check_mode)
        result = dict(
            changed=bool(files) or bool(missing) or bool(downloaded and downloaded.pop("changed")),
            missing=missing,
            manifest_digest=entry["digest"],
            source_digest=source_digest,
            converted=text != params["manifest"],
            ref_name=params["ref_name"],
            files=files,
        )
        if downloaded is not None:
            downloaded.pop("changed", None)
            result["download"] = downloaded
        result = write_archive(layout, params["archive"], result, check_mode)
        return converge_attributes(layout, request, result, check_mode)


def source_blob(params, text, source_digest):
    """The registry's exact manifest as a blob under its registry digest, for a converted manifest whose bytes have it.

    image_load and image_push read it back, so every runtime and registry gets the registry's digest.
    """
    if text == params["manifest"] or digest_of(params["manifest"]) != source_digest:
        return []
    return [("blob", source_digest, params["manifest"])]


def write_archive(layout, archive, result, check_mode):
    """Rewrite the oci-archive when asked for and when its content would differ (the caller holds the layout lock)."""
    if not archive:
        return result
    result["archive"] = archive
    if result["files"] or not layout.archive_matches(archive):
        result["changed"] = True
        result["files"] = result["files"] + [archive]
        if not check_mode:
            layout.write_archive(archive)
    return result


def converge_attributes(layout, request, result, check_mode):
    """Give the image's existing files the mode, owner and group asked for (new ones got them when written)."""
    digests = list(manifest_blobs(request["source"])) + [result["manifest_digest"]]
    if result["converted"] and result["source_digest"] != result["manifest_digest"]:
        digests.append(result["source_digest"])
    return converge_files(layout, digests, result, check_mode)


def converge_files(layout, digests, result, check_mode):
    """Give the blobs ``digests``, oci-layout, index.json and the archive the mode, owner and group asked for."""
    changed = layout.converge(digests, [OCI_LAYOUT_FILE, INDEX_FILE], result.get("archive"), check_mode)
    result["changed"] = result["changed"] or changed
    return result
