# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The format of a layout's ``index.json``, owned by the layout concern: entries, and a merge that never loses one.

``Layout`` (``layout.py``) reads and writes the file under the layout lock; these functions only
build and merge its text. Standard library only: runs on target hosts.
"""

import json

from ansible_collections.airgap.ecr.plugins.module_utils.digests import digest_of
from ansible_collections.airgap.ecr.plugins.module_utils.layout_archive import INDEX_FILE
from ansible_collections.airgap.ecr.plugins.module_utils.layout_fs import LayoutError

OCI_INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"
# The image's full name, which containerd (ctr import) and the collection's loaders use; an entry that has it is
# identified by it.
FULL_NAME = "io.containerd.image.name"
# Where a converted manifest keeps the digest and media type it had in the registry.
SOURCE_DIGEST = "io.github.airgap-ecr.source.digest"
SOURCE_MEDIA_TYPE = "io.github.airgap-ecr.source.media-type"


def index_entry(
    manifest_text, media_type, ref_name, platform=None, source_digest=None, source_media_type=None, name=None
):
    """The index.json descriptor of a manifest, named ``ref_name`` (and ``name``, the image's full name).

    The source annotations are written when the manifest was converted, and always for a named entry.
    """
    annotations = {REF_NAME: ref_name}
    if name is not None:
        annotations[FULL_NAME] = name
    if source_digest and (name is not None or source_digest != digest_of(manifest_text)):
        annotations[SOURCE_DIGEST] = source_digest
        annotations[SOURCE_MEDIA_TYPE] = source_media_type
    entry = {
        "mediaType": media_type,
        "digest": digest_of(manifest_text),
        "size": len(manifest_text.encode("utf-8")),
        "annotations": annotations,
    }
    if platform:
        entry["platform"] = platform
    return entry


def index_manifests(existing_text, source=INDEX_FILE):
    """The entries (dicts) of an existing index.json's text, [] for None.

    An index that is not a JSON object with a ``manifests`` list raises a LayoutError naming
    ``source`` (its path): it is never replaced, so no other image's entry is lost.
    """
    if existing_text is None:
        return []
    try:
        existing = json.loads(existing_text)
    except ValueError as e:
        raise LayoutError(f"{source} is not valid JSON ({e}): it is not replaced; repair it or move it away") from None
    if not isinstance(existing, dict) or not isinstance(existing.get("manifests", []), list):
        raise LayoutError(
            f"{source} is not an OCI image index (a JSON object with a 'manifests' list): it is not replaced; "
            "repair it or move it away"
        )
    return [m for m in existing.get("manifests", []) if isinstance(m, dict)]


def _names(entry):
    annotations = entry.get("annotations") if isinstance(entry.get("annotations"), dict) else {}
    return annotations.get(REF_NAME), annotations.get(FULL_NAME)


def _replaces(new, old, source):
    """Whether entry ``new`` replaces ``old``: the same full name, or the same ref name where one has no full name.

    Two full names under one ref name raise a LayoutError: ``oci:<dest>:<ref name>`` would be ambiguous.
    """
    (new_ref, new_name), (old_ref, old_name) = _names(new), _names(old)
    if new_name is not None and new_name == old_name:
        return True
    if new_ref != old_ref:
        return False
    if new_name is None or old_name is None:
        return True
    raise LayoutError(
        f"{source} already names the image {old_name} {new_ref!r} (annotation {REF_NAME}): {new_name} cannot take "
        "that name too; give it another ref_name"
    )


def merged_index(existing_text, entries, source=INDEX_FILE):
    """index.json text with ``entries`` (one entry or a list) added; other entries kept in order.

    A new entry replaces an entry of the same full name (``io.containerd.image.name``), and an
    entry of the same ref name when either has no full name (an entry of one image written without
    a name), in its place; entries that replace none are appended. An existing index that does not
    parse raises a LayoutError (``index_manifests``).
    """
    entries = [entries] if isinstance(entries, dict) else list(entries)
    manifests, placed = [], set()
    # A new entry takes the place of the first entry it replaces, so that a rerun leaves the text as it was.
    for old in index_manifests(existing_text, source):
        replacing = [i for i, e in enumerate(entries) if _replaces(e, old, source)]
        if not replacing:
            manifests.append(old)
        elif replacing[0] not in placed:
            placed.add(replacing[0])
            manifests.append(entries[replacing[0]])
    manifests += [e for i, e in enumerate(entries) if i not in placed]
    document = {"schemaVersion": 2, "mediaType": OCI_INDEX_TYPE, "manifests": manifests}
    return json.dumps(document, indent=2) + "\n"
