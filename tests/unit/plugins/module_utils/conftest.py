# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import boto3
import botocore.config
import pytest
from botocore.stub import Stubber

from ansible_collections.amazon.aws.plugins.module_utils.retries import AWSRetry
from ansible_collections.amazon.aws.plugins.module_utils.retries import RetryingBotoClientWrapper

from ansible_collections.airgap.ecr.plugins.module_utils import ecr


@pytest.fixture(name="stubbed")
def stubbed_client():
    """A real ECR client behind botocore's Stubber, wrapped like ecr_client() wraps it (3 attempts, short delays).

    Yields ``(client, stubber)``; every queued response must have been used.
    """
    client = boto3.client(
        "ecr",
        region_name="eu-west-1",
        aws_access_key_id="AKIDUNITTEST",
        aws_secret_access_key="unit-test-secret",
        config=botocore.config.Config(retries={"total_max_attempts": 1}),
    )
    retry = AWSRetry.jittered_backoff(
        retries=3, delay=0.01, max_delay=0.02, catch_extra_error_codes=ecr.RETRY_ERROR_CODES
    )
    with Stubber(client) as stubber:
        yield RetryingBotoClientWrapper(client, retry), stubber
        stubber.assert_no_pending_responses()
