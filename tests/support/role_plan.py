# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The image_fetch role's variables as the image_fetch_plan action takes them (one image by tag, no platform)."""

PLATFORMS = {"x86_64": "linux/amd64", "aarch64": "linux/arm64"}
VIA_MODES = ["direct", "controller", "relay"]


def plan_arguments(**changes):
    """The action's arguments for the role's defaults with one image, ``team/app:1.0``, and ``changes``."""
    arguments = dict(
        images=[],
        repository="team/app",
        tag="1.0",
        digest=None,
        ref_name=None,
        registry_id=None,
        platform=None,
        dest="/srv/images",
        via="direct",
        platforms=PLATFORMS,
        via_modes=VIA_MODES,
    )
    return dict(arguments, **changes)
