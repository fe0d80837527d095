# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""What the image_load and image_push modules share: their module class, the layout's images, the loop.

Target side: standard library and ``ansible.module_utils`` only. ``DeliveryModule`` is a
``TargetModule`` (every URL-like argument masked, failures scrubbed) that shows the addresses it
was given on purpose (a registry URL, a Docker host) once they have been checked to hold no
credential. ``read_images()`` checks the layout and every image before any runtime or registry is
called; ``deliver()`` runs one step per image and collects the results, and a failure keeps what was
done before it.
"""

import os
import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.airgap.ecr.plugins.module_utils.download_http import scrub
from ansible_collections.airgap.ecr.plugins.module_utils.layout import Layout
from ansible_collections.airgap.ecr.plugins.module_utils.layout import LayoutError
from ansible_collections.airgap.ecr.plugins.module_utils.layout_images import layout_images
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_image import ImageDeliveryError
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_image import ImageInputError
from ansible_collections.airgap.ecr.plugins.module_utils.target_module import TargetModule

# The options both modules take to find the images.
LAYOUT_IMAGES_SPEC = dict(
    dest=dict(type="path", required=True),
    images=dict(type="list", elements="raw"),
    strict_modes=dict(type="bool", default=True),
)


# What makes a string a credential here: a URL with a user part, or a request signature.
_CREDENTIAL_RE = re.compile(
    r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/@'\"<>]*@|X-Amz-|Signature=|AWSAccessKeyId=", re.IGNORECASE
)
_USERINFO_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^\s/@'\"<>]*@")


class DeliveryModule(TargetModule):
    """``TargetModule`` whose addresses (a registry URL, a Docker host) are shown, unless they carry a credential.

    ``TargetModule`` masks every URL-like argument and scrubs every URL from messages, for the
    pre-signed URLs of the download modules. These modules take no such URL: only a URL with a
    user part (``https://user:password@host``) or a signature is masked and scrubbed, so that a message
    can name the registry or the Docker host it could not reach.
    """

    def _mask_secrets(self):
        super()._mask_secrets()
        password = self.params.get("password")
        for value in list(self.no_log_values):
            if isinstance(value, str) and "://" in value and value != password and not _CREDENTIAL_RE.search(value):
                self.no_log_values.discard(value)

    def fail_json(self, msg, **kwargs):  # pylint: disable=arguments-differ
        self._mask_secrets()
        text = _USERINFO_RE.sub(r"\1<hidden>@", str(msg))
        # A signed URL a runtime or registry echoes is scrubbed whole, as the download modules do.
        AnsibleModule.fail_json(self, msg=scrub(text) if _CREDENTIAL_RE.search(text) else text, **kwargs)


def read_images(module):
    """The layout's ``RuntimeImage``s the module's ``dest`` and ``images`` ask for; fails the module otherwise."""
    dest = module.params["dest"]
    if not os.path.isabs(dest):
        module.fail_json(msg=f"dest {dest!r} is not an absolute path: give the OCI layout's directory")
    try:
        return layout_images(Layout(dest, strict_modes=module.params["strict_modes"]).check(), module.params["images"])
    except (ImageInputError, LayoutError) as e:
        module.fail_json(msg=str(e))
    return None  # pragma: no cover (fail_json exits)


def deliver(module, steps, counts):
    """Run each ``step()`` (one load or push of one image); exit with their results, or fail at the first error.

    ``counts(results)`` returns the figures to add to the result (``loaded``, ``pushed``, ...). Every
    step's result is kept under ``actions``; a failure's result holds those that finished before it.
    """
    results = []
    try:
        for step in steps:
            results.append(step())
    except (ImageInputError, ImageDeliveryError) as e:
        module.fail_json(msg=str(e), actions=results, **counts(results))
    changed = [result["msg"] for result in results if result["changed"]]
    module.exit_json(
        changed=bool(changed),
        actions=results,
        msg="; ".join(changed) if changed else f"{len(results)} image(s) already in place, nothing to do",
        **counts(results),
    )
