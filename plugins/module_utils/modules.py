# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The module base class of this collection's ECR modules.

It is amazon.aws's ``AnsibleAWSModule`` (auth options, environment fallbacks, client
creation, ``fail_json_aws``) with this collection's name and version in the User-Agent,
one way to fail on an ``AnsibleAWSError``, and every failure redacted of AWS credentials.
"""

from ansible_collections.amazon.aws.plugins.module_utils.common import set_collection_info
from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule

from ansible_collections.airgap.ecr.plugins.module_utils.common import AIRGAP_ECR_COLLECTION_NAME
from ansible_collections.airgap.ecr.plugins.module_utils.common import AIRGAP_ECR_COLLECTION_VERSION
from ansible_collections.airgap.ecr.plugins.module_utils.redaction import redact_all

# The AWS options whose values are hidden wherever they appear in a failure.
SECRET_OPTIONS = ("access_key", "secret_key", "session_token")


class AirgapECRModule(AnsibleAWSModule):
    """AnsibleAWSModule that identifies itself as ``airgap.ecr/<version>`` to AWS."""

    def __init__(self, **kwargs):
        set_collection_info(
            collection_name=AIRGAP_ECR_COLLECTION_NAME,
            collection_version=AIRGAP_ECR_COLLECTION_VERSION,
        )
        super().__init__(**kwargs)

    @property
    def allow_http(self):
        """Whether http download URLs are accepted: only from an endpoint the user named (``endpoint_url``)."""
        return bool(self.params.get("endpoint_url"))

    def fail_json(self, *args, **kwargs):
        """Every failure, built here or by amazon.aws (``fail_json_aws``), with credentials, tokens and
        signatures in any of its text replaced by ``<hidden>`` (redaction.py)."""
        secrets = [self.params.get(option) for option in SECRET_OPTIONS]
        super().fail_json(*args, **redact_all(kwargs, secrets))

    def fail_json_aws_error(self, exception):
        """The failure for an AnsibleAWSError: its message and its extra results (``failures``, ``error_code``).

        When it wraps a botocore exception (an error this collection does not explain),
        amazon.aws's details of it are added: the AWS response, the SDK versions, the traceback.
        """
        if exception.exception is not None:
            self.fail_json_aws(exception.exception, msg=exception.message, **exception.kwargs)
        self.fail_json(msg=exception.message, **exception.kwargs)
