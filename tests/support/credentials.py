# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The emulator's credentials for tests, in the forms they use.

The table itself is tests/emulator/service/credentials.py (the emulator checks against it).
``FULL_ACCESS``, ``SESSION``, ``EXPIRED`` and ``DENIED`` are boto3 ``client()`` keyword
arguments; ``*_OPTIONS`` the same sets as this collection's module options
(``access_key``, ``secret_key``, ``session_token``).
"""

from ansible_collections.airgap.ecr.tests.emulator.service.credentials import DENIED
from ansible_collections.airgap.ecr.tests.emulator.service.credentials import EXPIRED
from ansible_collections.airgap.ecr.tests.emulator.service.credentials import FULL_ACCESS
from ansible_collections.airgap.ecr.tests.emulator.service.credentials import SESSION
from ansible_collections.airgap.ecr.tests.emulator.service.credentials import environment
from ansible_collections.airgap.ecr.tests.emulator.service.credentials import module_options

REGION = "us-east-1"
FULL_ACCESS_OPTIONS = module_options(FULL_ACCESS)
SESSION_OPTIONS = module_options(SESSION)
EXPIRED_OPTIONS = module_options(EXPIRED)
DENIED_OPTIONS = module_options(DENIED)

__all__ = [
    "DENIED",
    "DENIED_OPTIONS",
    "EXPIRED",
    "EXPIRED_OPTIONS",
    "FULL_ACCESS",
    "FULL_ACCESS_OPTIONS",
    "REGION",
    "SESSION",
    "SESSION_OPTIONS",
    "aws_options",
    "environment",
    "module_options",
]


def aws_options(emulator_url, **changes):
    """The AWS options of a module run against the emulator at ``emulator_url``: full access, then ``changes``.

    A change to None removes that option (``session_token=None``); ``endpoint_url=`` may be changed too.
    """
    options = dict(FULL_ACCESS_OPTIONS, region=REGION, endpoint_url=emulator_url)
    options.update(changes)
    return {name: value for name, value in options.items() if value is not None}
