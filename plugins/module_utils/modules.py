# -*- coding: utf-8 -*-

# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The module base class of this collection.

It is amazon.aws's ``AnsibleAWSModule`` (auth options, environment fallbacks, client
creation, ``fail_json_aws``) with this collection's name and version in the User-Agent.
"""

from ansible_collections.amazon.aws.plugins.module_utils.common import set_collection_info
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.airgap.ecr.plugins.module_utils.common import AIRGAP_ECR_COLLECTION_NAME
from ansible_collections.airgap.ecr.plugins.module_utils.common import AIRGAP_ECR_COLLECTION_VERSION


class AirgapECRModule(AnsibleAWSModule):
    """AnsibleAWSModule that identifies itself as ``airgap.ecr/<version>`` to AWS."""

    def __init__(self, **kwargs):
        set_collection_info(
            collection_name=AIRGAP_ECR_COLLECTION_NAME,
            collection_version=AIRGAP_ECR_COLLECTION_VERSION,
        )
        super().__init__(**kwargs)
