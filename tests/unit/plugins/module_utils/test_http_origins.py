# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""http_origins: plain http accepted for the listed origins only (a relay), https required everywhere else."""

import pytest

from ansible_collections.airgap.ecr.plugins.module_utils import download_http
from ansible_collections.airgap.ecr.plugins.module_utils import target_module
from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError
from ansible_collections.airgap.ecr.tests.support.blob_server import BlobServer
from ansible_collections.airgap.ecr.tests.support.digests import digest_of

DIGEST = digest_of(b"x")


def params(urls, origins, allow_http=False):
    spec = {name: value.get("default") for name, value in target_module.DOWNLOAD_ARGUMENT_SPEC.items()}
    blobs = [dict(digest=DIGEST if i == 0 else digest_of(str(i).encode()), url=url) for i, url in enumerate(urls)]
    return dict(spec, blobs=blobs, allow_http=allow_http, http_origins=origins)


def test_a_listed_origin_may_be_plain_http():
    blobs, _concurrency = target_module.download_request(
        params(["http://10.0.0.5:8710/p/blobs/sha256/ab"], ["http://10.0.0.5:8710"])
    )
    assert len(blobs) == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.5:8711/p/blobs/sha256/ab",  # another port
        "http://10.0.0.6:8710/p/blobs/sha256/ab",  # another host
        "http://bucket.s3.eu-west-1.example/key?X-Amz-Signature=s",  # S3 over http
    ],
)
def test_any_other_plain_http_url_is_refused(url):
    with pytest.raises(ValidationError, match=r"blobs\[1\]\.url .* is a plain http URL, which is refused") as info:
        target_module.download_request(params(["https://s3.example/a", url], ["http://10.0.0.5:8710"]))
    assert "X-Amz" not in str(info.value) and "10.0.0" not in str(info.value)


def test_port_80_is_the_default():
    target_module.download_request(params(["http://relay/p/blobs/sha256/ab"], ["http://relay:80"]))


@pytest.mark.parametrize(
    "origin", ["https://10.0.0.5:8710", "http://10.0.0.5:8710/path", "10.0.0.5:8710", "http://u@h:1", 5, "http://h:0"]
)
def test_a_bad_origin_is_refused_naming_it(origin):
    with pytest.raises(ValidationError, match=r"http_origins\[0\] .* is not an origin: give http://<host>:<port>"):
        target_module.download_request(params(["https://s3.example/a"], [origin]))


def test_the_opener_follows_the_rule_and_redirects_too():
    with BlobServer() as server:
        url = server.add("blob", b"data")
        origin = f"http://127.0.0.1:{server.port}"
        assert download_http.url_opener(http_origins=[origin])(url, {}).read() == b"data"
        with pytest.raises(download_http.RefusedURL, match="plain http URL"):
            download_http.url_opener(http_origins=["http://127.0.0.1:1"])(url, {})
        listed = frozenset([download_http.http_origin(origin)])
        with pytest.raises(download_http.RefusedURL, match="a redirect target is a plain http URL"):
            download_http._redirect_target(f"{origin}/x", "http://10.0.0.6:8710/y", False, listed)
        assert download_http._redirect_target(f"{origin}/x", url, False, listed) == url
