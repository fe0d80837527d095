# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""registry_client against real distribution registries: plain http, basic auth over TLS, token auth."""

import json

import pytest
from conftest import PASSWORD
from conftest import USERNAME
from daemons import DigestlessProxy

from ansible_collections.airgap.ecr.plugins.module_utils.registry_client import RegistryClient
from ansible_collections.airgap.ecr.plugins.module_utils.registry_client import RegistryPushError
from ansible_collections.airgap.ecr.plugins.module_utils.runtime_image import ImageInputError

WRITES = ("POST", "PUT", "PATCH")


@pytest.fixture(name="registry", params=["plain", "basic", "token"])
def registry_fixture(request):
    daemon = request.getfixturevalue(f"registry_{request.param}")
    options = {} if request.param == "plain" else {"username": USERNAME, "password": PASSWORD}
    if request.param == "basic":
        options["ca_path"] = daemon.ca
    daemon.options = options
    return daemon


def client(registry, **extra):
    return RegistryClient(registry.url, **dict(registry.options, **extra))


def test_push_keeps_digest_skips_shared_blobs_then_nothing(registry, pair, capsys):
    one, two = pair
    results = [client(registry).push(one.runtime_image(), "team/app", "one")]
    results.append(client(registry).push(two.runtime_image(), "team/app", "two"))
    assert results[0]["changed"] and len(results[0]["uploaded"]) == 3
    # The base layer came with the first image: the second uploads its config and top layer only.
    assert results[1]["uploaded"] == [two.config_digest, two.layer_digests()[1]]
    for image, tag in ((one, "one"), (two, "two")):
        assert client(registry).manifest_digest("team/app", tag, image.flavour["manifest"]) == image.digest
        again = client(registry)
        repeat = again.push(image.runtime_image(), "team/app", tag)
        assert not repeat["changed"] and repeat["uploaded"] == []
        assert not [r for r in again.requests if r[0] in WRITES], again.requests
        results.append(repeat)
    if hasattr(registry, "token_server"):
        assert registry.token_server.requests, "the token registry was pushed to without a token"
    printed = capsys.readouterr()
    assert PASSWORD not in json.dumps(results) + printed.out + printed.err


def test_chunked_upload(registry, pair):
    image = pair[1]
    pusher = client(registry, chunk_size=16 * 1024)
    pushed = pusher.push(image.runtime_image(), "team/chunked", "2.0")
    assert pushed["changed"] and len(pushed["uploaded"]) == 3
    assert len([r for r in pusher.requests if r[0] == "PATCH"]) >= 3
    assert client(registry).manifest_digest("team/chunked", "2.0", image.flavour["manifest"]) == image.digest


def test_check_mode_pushes_nothing(registry, pair):
    image = pair[0]
    pusher = client(registry)
    would = pusher.push(image.runtime_image(), "team/check", "1.0", check_mode=True)
    assert would["changed"] and would["actions"] == ["upload 3 blob(s)", f"put manifest {image.digest}"]
    assert would["uploaded"] == [] and len(would["missing"]) == 3
    assert not [r for r in pusher.requests if r[0] in WRITES]
    assert client(registry).manifest_digest("team/check", "1.0", image.flavour["manifest"]) is None


@pytest.mark.parametrize("name", ["basic", "token"])
def test_wrong_password_says_what_to_do_and_shows_no_password(request, name, pair):
    registry = request.getfixturevalue(f"registry_{name}")
    options = {"ca_path": registry.ca} if name == "basic" else {}
    wrong = PASSWORD + "-wrong"
    with pytest.raises(RegistryPushError) as error:
        RegistryClient(registry.url, username=USERNAME, password=wrong, **options).push(
            pair[0].runtime_image(), "team/x", "1"
        )
    message = str(error.value)
    assert message.startswith(f"registry {registry.url}: team/x:1: ")
    assert "check image_fetch_push_username and image_fetch_push_password" in message
    assert wrong not in message and PASSWORD not in message and USERNAME + ":" not in message


def test_no_credentials_for_a_registry_that_needs_them(registry_token, pair):
    with pytest.raises(RegistryPushError, match="requires authentication: set image_fetch_push_username"):
        RegistryClient(registry_token.url).push(pair[0].runtime_image(), "team/x", "1")


def test_tls_without_the_ca_says_what_to_do(registry_basic, pair):
    with pytest.raises(RegistryPushError) as error:
        RegistryClient(registry_basic.url, username=USERNAME, password=PASSWORD).push(
            pair[0].runtime_image(), "team/x", "1"
        )
    assert "TLS verification failed" in str(error.value) and "image_fetch_push_ca_path" in str(error.value)
    assert PASSWORD not in str(error.value)


def test_unreachable_registry(pair):
    with pytest.raises(RegistryPushError, match=r"cannot reach the registry .*: is it running, and is the URL right\?"):
        RegistryClient("http://127.0.0.1:9").push(pair[0].runtime_image(), "team/x", "1")


@pytest.mark.parametrize(
    "url", ["ftp://host", "https://user:pw@host", "https://host/v2/", "host:5000", "https://host:99999"]
)
def test_bad_url_rejected_before_any_request(url):
    with pytest.raises(ImageInputError, match="is not of the form https://host") as error:
        RegistryClient(url)
    assert "pw@" not in str(error.value)


@pytest.mark.parametrize(
    "repository, tag, expected",
    [
        ("Team/App", "1", "repository 'Team/App' is not a registry repository name"),
        ("team/app", "-bad", "tag '-bad' is not a valid tag"),
    ],
)
def test_bad_repository_or_tag_rejected_before_any_request(repository, tag, expected, pair):
    pusher = RegistryClient("http://127.0.0.1:9")
    with pytest.raises(ImageInputError, match=expected):
        pusher.push(pair[0].runtime_image(), repository, tag)
    assert pusher.requests == []


def test_shared_blob_is_mounted_across_repositories(registry, pair):
    one, two = pair
    pusher = client(registry)
    first = pusher.push(one.runtime_image(), "team/first", "1.0")
    second = pusher.push(two.runtime_image(), "team/second", "2.0")
    base = one.layer_digests()[0]
    assert base in first["uploaded"]
    # The base layer is in team/first already: the registry links it into team/second, no bytes sent.
    assert second["mounted"] == [base] and base not in second["uploaded"]
    assert client(registry).manifest_digest("team/second", "2.0", two.flavour["manifest"]) == two.digest
    assert client(registry).push(two.runtime_image(), "team/second", "2.0")["changed"] is False


def test_registry_without_digest_header(registry_plain, pair):
    image = pair[0]
    RegistryClient(registry_plain.url).push(image.runtime_image(), "team/noheader", "1.0")
    proxy = DigestlessProxy(registry_plain.url)
    try:
        reader = RegistryClient(proxy.url)
        # The digest of the bytes served stands in for the missing header.
        assert reader.manifest_digest("team/noheader", "1.0", image.flavour["manifest"]) == image.digest
        assert proxy.methods == ["HEAD", "GET"]
        assert reader.push(image.runtime_image(), "team/noheader", "1.0")["changed"] is False
    finally:
        proxy.stop()
