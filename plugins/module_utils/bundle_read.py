# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Reading a bundle on the controller: its description, and the whole verification before anything is delivered.

``verify`` checks every file of ``SHA256SUMS`` (a missing or changed file is named), that every part
and every file of the layout the description lists is among them, and that every blob's checksum is
its digest; then, for a split bundle, joins the parts into a layout in a work directory, hashing each
blob again as it is written. Only then does it return the layout the hosts are fed from.
Standard library only.
"""

import os

from ansible_collections.airgap.ecr.plugins.module_utils import bundle_format as fmt
from ansible_collections.airgap.ecr.plugins.module_utils import bundle_layout
from ansible_collections.airgap.ecr.plugins.module_utils import bundle_parts
from ansible_collections.airgap.ecr.plugins.module_utils.bundle_format import BundleError
from ansible_collections.airgap.ecr.plugins.module_utils.layout import Layout
from ansible_collections.airgap.ecr.plugins.module_utils.layout_archive import INDEX_FILE
from ansible_collections.airgap.ecr.plugins.module_utils.layout_archive import OCI_LAYOUT_FILE


def _read(path):
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        raise BundleError(f"{path} is missing: this is not a whole bundle; copy it from the media again") from None
    with os.fdopen(fd, "rb") as handle:
        return handle.read().decode("utf-8", errors="replace")


def _sums(src):
    return fmt.parse_sums(_read(os.path.join(src, fmt.SUMS_FILE)), os.path.join(src, fmt.SUMS_FILE))


def read_bundle(src):
    """The description of the bundle at ``src``, checked against its entry in SHA256SUMS."""
    src = os.path.abspath(src)
    if not os.path.isdir(src):
        raise BundleError(f"{src} is not a directory: expected the directory of a bundle")
    sums = _sums(src)
    path = os.path.join(src, fmt.BUNDLE_FILE)
    text = _read(path)
    if sums.get(fmt.BUNDLE_FILE) != bundle_parts.hash_file(path):
        raise BundleError(f"{path} does not match its checksum in {fmt.SUMS_FILE}: it is corrupt; copy it again")
    return fmt.loads(text, path)


def _expected_files(document):
    """``{relative path: sha256 hex or None}`` of the files the description says the bundle holds."""
    if document["parts"]:
        return {part["name"]: part["sha256"] for part in document["parts"]["files"]}
    files = {f"{fmt.LAYOUT_DIR}/{name}": digest.split(":", 1)[1] for name, digest in document["layout_files"].items()}
    digests = [image["image_digest"] for image in document["images"]]
    digests += [blob["digest"] for blob in document["blobs"] if blob["in_bundle"]]
    for digest in digests:
        algorithm, hexdigest = digest.split(":", 1)
        files[f"{fmt.LAYOUT_DIR}/blobs/{algorithm}/{hexdigest}"] = hexdigest if algorithm == "sha256" else None
    return files


def _problems(src, sums, document):
    """Every file that is missing, corrupt or not listed, as ``"<path> is ..."``; empty when the bundle is whole."""
    problems = []
    for path, expected in sorted(_expected_files(document).items()):
        if path not in sums or (expected is not None and sums[path] != expected):
            problems.append(f"{path} is not listed in {fmt.SUMS_FILE} with the checksum bundle.json gives")
    for path, expected in sorted(sums.items()):
        full = os.path.join(src, path)
        if not os.path.lexists(full):
            problems.append(f"{path} is missing")
        elif bundle_parts.hash_file(full) != expected:
            problems.append(f"{path} is corrupt (its sha256 is not the one in {fmt.SUMS_FILE})")
    return problems


def _work_layout(src, document, work_dir):
    if not document["parts"]:
        return os.path.join(src, fmt.LAYOUT_DIR)
    if not work_dir:
        raise BundleError("the bundle is split into parts: set work_dir, a directory to join them into")
    layout_dir = os.path.join(os.path.abspath(work_dir), document["id"].replace(":", "-"))
    layout = Layout(layout_dir, strict_modes=False)
    try:
        bundle_parts.join([os.path.join(src, part["name"]) for part in document["parts"]["files"]], layout, document)
    finally:
        layout.close()
    return layout_dir


def _refuse_links(src):
    """A bundle holds files and directories only: a symlink anywhere in it is refused, naming it."""
    for directory, dirs, files in os.walk(src):
        for name in dirs + files:
            if os.path.islink(os.path.join(directory, name)):
                raise BundleError(f"{os.path.join(directory, name)} is a symlink: a bundle holds none; it is refused")


def verify(src, work_dir=None, join=True):
    """Verify the whole bundle at ``src``; its description with ``layout`` (the verified layout) and ``images``.

    Without ``join``, a split bundle's checksums are verified and its parts are not joined (``layout`` None).
    """
    src = os.path.abspath(src)
    document = read_bundle(src)
    _refuse_links(src)
    problems = _problems(src, _sums(src), document)
    if problems:
        raise BundleError(
            f"the bundle {src} is refused, nothing was delivered: "
            + "; ".join(problems)
            + ". Copy the named files from the media again"
        )
    if document["parts"] and not join:
        return dict(document, layout=None)
    layout_dir = _work_layout(src, document, work_dir)
    layout = Layout(layout_dir, strict_modes=False)
    try:
        for name in (OCI_LAYOUT_FILE, INDEX_FILE):
            if layout.read_text(name) is None:
                raise BundleError(f"{layout.path_of(name)} is missing: the bundle is not complete")
        images = bundle_layout.delivered_images(layout, document)
    finally:
        layout.close()
    return dict(document, layout=layout_dir, images=images)
