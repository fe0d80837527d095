# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import pytest

from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError
from ansible_collections.airgap.ecr.plugins.module_utils.validation import unique_digests
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_concurrency
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_digest
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_registry_id
from ansible_collections.airgap.ecr.plugins.module_utils.validation import validate_repository

SHA256 = "sha256:" + "ab" * 32
SHA512 = "sha512:" + "cd" * 64


@pytest.mark.parametrize("name", ["ab", "team/app", "a.b_c__d--e/f-g", "x" * 256, "a1/b2/c3", "my-repo"])
def test_valid_repository_names(name):
    assert validate_repository(name) == name


@pytest.mark.parametrize(
    "name, fragment",
    [
        ("a", "2 to 256"),
        ("x" * 257, "2 to 256"),
        ("Team/App", "not a valid ECR repository name"),
        ("team//app", "not a valid ECR repository name"),
        ("/team", "not a valid ECR repository name"),
        ("team/", "not a valid ECR repository name"),
        ("app:1.0", "not a valid ECR repository name"),
        ("-app", "not a valid ECR repository name"),
        ("app_", "not a valid ECR repository name"),
        ("a___b", "not a valid ECR repository name"),
        ("team app", "not a valid ECR repository name"),
        ("team/app\n", "not a valid ECR repository name"),
    ],
)
def test_invalid_repository_names_name_the_value_and_rule(name, fragment):
    with pytest.raises(ValidationError) as e:
        validate_repository(name)
    assert repr(name) in str(e.value)
    assert fragment in str(e.value)


def test_registry_id():
    assert validate_registry_id(None) is None
    assert validate_registry_id("123456789012") == "123456789012"
    for bad in ["12345678901", "1234567890123", "12345678901a", " 123456789012", "123456789012\n", 123456789012]:
        with pytest.raises(ValidationError, match="12-digit"):
            validate_registry_id(bad)


@pytest.mark.parametrize("digest", [SHA256, SHA512])
def test_valid_digests(digest):
    assert validate_digest(digest) == digest


@pytest.mark.parametrize(
    "digest, fragment",
    [
        ("ab" * 32, "not a digest"),
        ("sha256:", "not a digest"),
        ("sha256:" + "AB" * 32, "lowercase hexadecimal"),
        ("sha256:" + "ab" * 31, "exactly 64"),
        ("sha256:" + "ab" * 33, "exactly 64"),
        ("sha512:" + "ab" * 32, "exactly 128"),
        ("md5:" + "ab" * 16, "supported algorithms are sha256, sha512"),
        ("sha256:" + "zz" * 32, "not a digest"),
        ("sha256 :" + "ab" * 32, "not a digest"),
        ("sha256:" + "ab" * 32 + "\n", "not a digest"),
    ],
)
def test_invalid_digests_name_the_value_and_rule(digest, fragment):
    with pytest.raises(ValidationError) as e:
        validate_digest(digest)
    assert repr(digest) in str(e.value)
    assert fragment in str(e.value)


def test_unique_digests_keeps_first_order_and_drops_duplicates():
    other = "sha256:" + "01" * 32
    assert unique_digests([other, SHA256, other, SHA256, SHA512]) == [other, SHA256, SHA512]


def test_unique_digests_reports_every_bad_entry_with_its_position():
    with pytest.raises(ValidationError) as e:
        unique_digests([SHA256, "nope", SHA512, "sha256:abc"])
    message = str(e.value)
    assert "digests[1] 'nope'" in message
    assert "digests[3] 'sha256:abc'" in message
    assert "digests[0]" not in message


def test_unique_digests_rejects_empty_list():
    with pytest.raises(ValidationError, match="at least one"):
        unique_digests([])


@pytest.mark.parametrize("value", [0, -1, 65, True, "8"])
def test_concurrency_range(value):
    with pytest.raises(ValidationError, match="1 to 64"):
        validate_concurrency(value, maximum=64)
    assert validate_concurrency(1, maximum=64) == 1
    assert validate_concurrency(64, maximum=64) == 64


def test_concurrency_bound_is_the_callers():
    with pytest.raises(ValidationError, match="concurrency 33 is out of range: it must be an integer from 1 to 32"):
        validate_concurrency(33, maximum=32)
