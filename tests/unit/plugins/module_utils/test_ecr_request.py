# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

import pytest

from ansible_collections.airgap.ecr.plugins.module_utils.ecr_request import DEFAULT_CONCURRENCY
from ansible_collections.airgap.ecr.plugins.module_utils.ecr_request import MAX_CONCURRENCY
from ansible_collections.airgap.ecr.plugins.module_utils.ecr_request import request_argument_spec
from ansible_collections.airgap.ecr.plugins.module_utils.ecr_request import validate_ecr_request
from ansible_collections.airgap.ecr.plugins.module_utils.validation import ValidationError

D1 = "sha256:" + "11" * 32
D2 = "sha256:" + "22" * 32


def test_the_controller_has_one_bound_and_default():
    assert (DEFAULT_CONCURRENCY, MAX_CONCURRENCY) == (16, 64)
    assert request_argument_spec()["concurrency"]["default"] == DEFAULT_CONCURRENCY


def test_one_digest():
    request = validate_ecr_request(
        {"repository": "team/app", "digest": D1, "digests": None, "registry_id": None, "concurrency": 16}
    )
    assert request.repository == "team/app" and request.digests == [D1] and request.registry_id is None
    assert request.image_tag is None and request.image_digest is None and request.platform is None


def test_digests_without_duplicates_and_the_default_concurrency():
    request = validate_ecr_request({"repository": "team/app", "digests": [D2, D1, D2], "registry_id": "123456789012"})
    assert request.digests == [D2, D1] and request.registry_id == "123456789012"
    assert request.concurrency == DEFAULT_CONCURRENCY


def test_an_image():
    request = validate_ecr_request(
        {"repository": "team/app", "image_tag": "1.0", "image_digest": None, "platform": "linux/arm64"}
    )
    assert request.image_tag == "1.0" and request.digests is None
    assert request.platform["architecture"] == "arm64"


@pytest.mark.parametrize(
    "options, option_name, expected",
    [
        ({"repository": "Team", "digest": D1}, "digests", "repository 'Team' is not a valid ECR repository name"),
        (
            {"repository": "team/app", "digest": D1, "registry_id": "12"},
            "digests",
            "registry_id '12' is not a registry id",
        ),
        ({"repository": "team/app", "digests": [D1, "x"]}, "digests", "digests[1] 'x' is not a digest"),
        ({"repository": "team/app", "digests": [D1, "x"]}, "terms", "terms[1] 'x' is not a digest"),
        ({"repository": "team/app", "digests": []}, "digests", "digests is empty"),
        (
            {"repository": "team/app", "digest": D1, "concurrency": 65},
            "digests",
            "concurrency 65 is out of range: it must be an integer from 1 to 64",
        ),
        ({"repository": "team/app", "image_tag": "a b"}, "digests", "image_tag 'a b' is not a valid tag"),
        (
            {"repository": "team/app", "image_digest": "sha256:1"},
            "digests",
            "image_digest 'sha256:1' is not a valid sha256 digest",
        ),
        (
            {"repository": "team/app", "image_tag": "1", "platform": "linux"},
            "digests",
            "platform 'linux' is not of the form os/architecture",
        ),
        ({"repository": None, "digest": D1}, "digests", "repository must be a string"),
    ],
)
def test_bad_input_names_the_value_and_the_rule(options, option_name, expected):
    with pytest.raises(ValidationError) as e:
        validate_ecr_request(options, digests_option=option_name)
    assert expected in str(e.value)
