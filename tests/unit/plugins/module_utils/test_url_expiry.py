# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import datetime

from ansible_collections.airgap.ecr.plugins.module_utils.url_expiry import url_expires_at
from ansible_collections.airgap.ecr.plugins.module_utils.url_expiry import url_expiry

# The shape of the URL in the AWS CLI's example for get-download-url-for-layer.
CLI_EXAMPLE = (
    "https://bucket.s3.us-west-2.amazonaws.com/key/sha256/"
    "?X-Amz-Security-Token=IQoJb3JpZ2luX2VjEGo&X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Date=20190814T220617Z&X-Amz-SignedHeaders=host&X-Amz-Expires=3600"
    "&X-Amz-Credential=AKIAEXAMPLE%2F20190814%2Fus-west-2%2Fs3%2Faws4_request&X-Amz-Signature=0123abcd"
)


def test_cli_example_expiry():
    assert url_expires_at(CLI_EXAMPLE) == "2019-08-14T23:06:17Z"
    assert url_expiry(CLI_EXAMPLE) == datetime.datetime(2019, 8, 14, 23, 6, 17, tzinfo=datetime.UTC)


def test_expiry_crosses_midnight_and_month():
    url = "http://127.0.0.1:1/b/k?X-Amz-Date=20240131T233000Z&X-Amz-Expires=7200"
    assert url_expires_at(url) == "2024-02-01T01:30:00Z"


def test_sigv2_expires_epoch():
    assert url_expires_at("https://h/b/k?AWSAccessKeyId=A&Expires=1565820377&Signature=x") == "2019-08-14T22:06:17Z"


def test_unknown_or_malformed_expiry_is_none():
    assert url_expires_at(None) is None
    assert url_expires_at("https://h/b/k") is None
    assert url_expires_at("https://h/b/k?X-Amz-Date=20190814T220617Z") is None
    assert url_expires_at("https://h/b/k?X-Amz-Date=yesterday&X-Amz-Expires=3600") is None
    assert url_expires_at("https://h/b/k?X-Amz-Date=20190814T220617Z&X-Amz-Expires=soon") is None
