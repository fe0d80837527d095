# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import os

import yaml

from ansible_collections.airgap.ecr.plugins.module_utils.common import AIRGAP_ECR_COLLECTION_NAME
from ansible_collections.airgap.ecr.plugins.module_utils.common import AIRGAP_ECR_COLLECTION_VERSION

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))


def test_identity_matches_galaxy_yml():
    with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as handle:
        galaxy = yaml.safe_load(handle)
    assert AIRGAP_ECR_COLLECTION_NAME == f"{galaxy['namespace']}.{galaxy['name']}"
    assert AIRGAP_ECR_COLLECTION_VERSION == galaxy["version"]
