# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""role_plan: what the image_fetch role works out for one host, and its messages (those of the role's assert)."""

import hashlib

import pytest

from ansible_collections.airgap.ecr.plugins.module_utils.role_plan import host_facts
from ansible_collections.airgap.ecr.plugins.module_utils.role_plan import host_platform
from ansible_collections.airgap.ecr.plugins.module_utils.role_plan import problems
from ansible_collections.airgap.ecr.tests.support.role_plan import plan_arguments


def test_a_one_image_set_for_the_host_architecture():
    given = plan_arguments()
    platform = host_platform(given, "aarch64")
    assert platform == "linux/arm64"
    assert problems(given, platform, "host1", "aarch64") == []
    facts = host_facts(given, platform)
    images = [{"repository": "team/app", "tag": "1.0"}]
    # the key the role's template made: to_json of the set, its SHA-1, the registry id ('' for none), the platform
    text = '[{"repository": "team/app", "tag": "1.0"}]'
    assert facts == {
        "image_fetch__platform": "linux/arm64",
        "image_fetch__dest": "/srv/images",
        "image_fetch__refs": [{"ref_name": "1.0"}],
        "image_fetch__wanted": {
            "key": f"{hashlib.sha1(text.encode()).hexdigest()}  linux/arm64",
            "platform": "linux/arm64",
            "images": images,
        },
    }


def test_a_set_keeps_its_order_and_ref_names_default_to_the_tag_then_latest():
    images = [
        {"repository": "a", "tag": "1", "ref_name": "one", "registry_id": None},
        {"repository": "b", "digest": "sha256:" + "0" * 64, "name": "x/b@sha256:" + "0" * 64},
        {"repository": "c", "tag": "2", "ref_name": ""},
    ]
    given = plan_arguments(images=images, repository=None, tag=None, platform="linux/amd64", registry_id="123456789012")
    assert problems(given, "linux/amd64", "host1", None) == []
    facts = host_facts(given, "linux/amd64")
    assert facts["image_fetch__refs"] == [{"ref_name": "one"}, {"ref_name": "latest"}, {"ref_name": "2"}]
    wanted = facts["image_fetch__wanted"]
    assert wanted["images"] == [
        {"repository": "a", "tag": "1"},
        {"repository": "b", "digest": "sha256:" + "0" * 64, "name": "x/b@sha256:" + "0" * 64},
        {"repository": "c", "tag": "2"},
    ]
    assert wanted["key"].endswith(" 123456789012 linux/amd64")


def test_hosts_with_the_same_set_share_a_key_and_another_platform_or_registry_has_another():
    keys = {
        host_facts(plan_arguments(**changes), platform)["image_fetch__wanted"]["key"]
        for changes, platform in (({}, "linux/amd64"), ({}, "linux/amd64"), ({"registry_id": "1"}, "linux/amd64"))
    }
    keys.add(host_facts(plan_arguments(), "linux/arm64")["image_fetch__wanted"]["key"])
    assert len(keys) == 3


def test_the_given_platform_wins_over_the_architecture():
    assert host_platform(plan_arguments(platform="linux/arm/v7"), "x86_64") == "linux/arm/v7"
    assert host_platform(plan_arguments(), "sparc64") is None
    assert host_platform(plan_arguments(), None) is None


@pytest.mark.parametrize(
    "changes, platform, architecture, expected",
    [
        (
            {"repository": None, "tag": None},
            "linux/amd64",
            None,
            ["Set image_fetch_images (a list of {repository, tag | digest}) or image_fetch_repository"],
        ),
        (
            {"images": [{"repository": "a", "tag": "1"}]},
            "linux/amd64",
            None,
            ["Set image_fetch_images or image_fetch_repository, not both (repository team/app)"],
        ),
        (
            {"tag": None},
            "linux/amd64",
            None,
            ["Set exactly one of image_fetch_tag and image_fetch_digest (tag None, digest None)"],
        ),
        (
            {"digest": "sha256:" + "1" * 64},
            "linux/amd64",
            None,
            [f"Set exactly one of image_fetch_tag and image_fetch_digest (tag 1.0, digest sha256:{'1' * 64})"],
        ),
        ({"via": "pigeon"}, "linux/amd64", None, ["image_fetch_via pigeon is not one of direct, controller, relay"]),
        (
            {},
            None,
            "sparc64",
            [
                "Cannot tell the OCI platform of host7 from its architecture sparc64; set image_fetch_platform, "
                "for example linux/amd64"
            ],
        ),
        (
            {},
            None,
            None,
            [
                "Cannot tell the OCI platform of host7 from its architecture (unknown); set image_fetch_platform, "
                "for example linux/amd64"
            ],
        ),
        (
            {
                "repository": None,
                "images": [
                    {"repository": "a", "tag": "1"},
                    {"repository": "b", "tag": "2", "ref_name": "1"},
                    {"repository": "c", "tag": "1"},
                ],
            },
            "linux/amd64",
            None,
            [
                "image_fetch_images[0] and image_fetch_images[1] both have the ref_name 1 in the layout: give one of "
                "them another ref_name"
            ],
        ),
    ],
)
def test_each_problem_in_the_role_s_words(changes, platform, architecture, expected):
    assert problems(plan_arguments(**changes), platform, "host7", architecture) == expected


def test_every_problem_is_reported_at_once_in_the_role_s_order():
    found = problems(plan_arguments(tag=None, via="ftp"), None, "host7", "mips")
    assert [message.split(" ")[0] for message in found] == ["Set", "image_fetch_via", "Cannot"]
