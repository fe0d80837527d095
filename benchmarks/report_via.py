# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Row 9 (how the bytes travel: image_fetch_via) in the table, and its targets."""

from groups import FLEET_FORKS
from groups import rate_text
from groups import via_size
from report import Row
from report import Target
from report import _ratios
from report import least_favourable
from report import measured_row
from workload import VIA_HOSTS

VIA_CONTENDERS = (
    ("controller", "image_fetch_via=controller: cache once, blob_sync"),
    ("direct", "image_fetch_via=direct: every host from S3"),
    ("copy", "download once, then ansible.builtin.copy"),
)


def rows(results, s3_rate_mb):
    """The section of row 9, with the bytes each contender pulled from S3 in its label; [] when not measured."""
    size = via_size()
    found = []
    for name, label in VIA_CONTENDERS:
        row = measured_row(results, ("via", name, size), label, size, ("via", "controller", size))
        pulled = results.median("via", name, size, field="s3_bytes")
        if row.wall is None:
            continue
        row.label = f"{label} (S3: {pulled / 1e6:.0f} MB)" if pulled is not None else label
        found.append(row)
    if not found:
        return []
    title = (
        f"Row 9: about 200 MB to {VIA_HOSTS} local hosts ({min(VIA_HOSTS, FLEET_FORKS)} forks); blob downloads "
        f"{rate_text(s3_rate_mb)}; ratio = row / controller"
    )
    return [Row(title, section=True)] + found


def targets(results):
    size = via_size()
    controller, direct, copy = (("via", name, size) for name in ("controller", "direct", "copy"))
    return [
        least_favourable(
            Target("T11", f"bytes from S3, controller / direct, {size}", "<=", 1.5 / VIA_HOSTS),
            _ratios(results, controller, direct, ("s3_bytes",)),
        ),
        least_favourable(
            Target("T12", f"controller / download then ansible.builtin.copy, {size}", "<=", 1.0),
            _ratios(results, controller, copy, ("wall",)),
        ),
    ]
