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
# Where a converted manifest keeps the digest and media type it had in the registry.
SOURCE_DIGEST = "io.github.airgap-ecr.source.digest"
SOURCE_MEDIA_TYPE = "io.github.airgap-ecr.source.media-type"


def index_entry(manifest_text, media_type, ref_name, platform=None, source_digest=None, source_media_type=None):
    """The index.json descriptor of a manifest, named ``ref_name``."""
    annotations = {REF_NAME: ref_name}
    if source_digest and source_digest != digest_of(manifest_text):
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


def merged_index(existing_text, entry, source=INDEX_FILE):
    """index.json text with ``entry`` in the place of any entry of the same ref name; other entries kept in order.

    An existing index that is not a JSON object with a ``manifests`` list is never replaced: that
    raises a LayoutError naming ``source`` (its path), so no other image's entry is lost.
    """
    manifests = []
    if existing_text is not None:
        try:
            existing = json.loads(existing_text)
        except ValueError as e:
            raise LayoutError(
                f"{source} is not valid JSON ({e}): it is not replaced; repair it or move it away"
            ) from None
        if not isinstance(existing, dict) or not isinstance(existing.get("manifests", []), list):
            raise LayoutError(
                f"{source} is not an OCI image index (a JSON object with a 'manifests' list): it is not replaced; "
                "repair it or move it away"
            )
        manifests = [m for m in existing.get("manifests", []) if isinstance(m, dict)]
    # The entry takes the place of the one it replaces, so that writing the names of a layout again, in any
    # order, leaves index.json as it is.
    name = entry["annotations"][REF_NAME]
    same = [i for i, m in enumerate(manifests) if (m.get("annotations") or {}).get(REF_NAME) == name]
    kept = [m for i, m in enumerate(manifests) if i not in same[1:]]
    if same:
        kept[same[0]] = entry
    else:
        kept.append(entry)
    document = {"schemaVersion": 2, "mediaType": OCI_INDEX_TYPE, "manifests": kept}
    return json.dumps(document, indent=2) + "\n"
