# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The image_fetch_plan action: the facts it sets, the setup run it makes only when the platform must come from the
host's architecture, and its failure with every problem in one message."""

from unittest.mock import MagicMock

from ansible_collections.airgap.ecr.plugins.action.image_fetch_plan import ActionModule
from ansible_collections.airgap.ecr.tests.support.role_plan import plan_arguments


def run(task_vars=None, setup=None, **changes):
    """The action's result for the role's arguments with ``changes``, and the module runs it asked for."""
    args = plan_arguments(**changes)
    task = MagicMock(args=args, check_mode=False, async_val=0, action="airgap.ecr.image_fetch_plan")
    connection = MagicMock()
    connection._shell.tmpdir = None  # pylint: disable=protected-access
    action = ActionModule(task, connection, MagicMock(), MagicMock(), MagicMock(), MagicMock())
    runs = []

    def execute_module(module_name, module_args, task_vars, wrap_async):
        runs.append((module_name, module_args, wrap_async))
        return setup

    action._execute_module = execute_module  # pylint: disable=protected-access
    action._remove_tmp_path = lambda path: None  # pylint: disable=protected-access
    variables = dict({"inventory_hostname": "host1"}, **(task_vars or {}))
    return action.run(task_vars=variables), runs


def test_the_facts_from_the_architecture_fact_without_any_module_run():
    result, runs = run(task_vars={"ansible_facts": {"architecture": "aarch64"}})
    assert runs == []
    assert not result.get("failed") and result["changed"] is False
    facts = result["ansible_facts"]
    assert facts["image_fetch__platform"] == "linux/arm64"
    assert facts["image_fetch__dest"] == "/srv/images"
    assert facts["image_fetch__refs"] == [{"ref_name": "1.0"}]
    assert facts["image_fetch__wanted"]["platform"] == "linux/arm64"
    assert facts["image_fetch__wanted"]["images"] == [{"repository": "team/app", "tag": "1.0"}]


def test_the_given_platform_needs_no_facts():
    result, runs = run(platform="linux/arm/v7")
    assert runs == []
    assert result["ansible_facts"]["image_fetch__platform"] == "linux/arm/v7"


def test_minimal_facts_are_gathered_when_the_architecture_is_unknown_and_kept():
    gathered = {"ansible_facts": {"ansible_architecture": "x86_64", "ansible_system": "Linux"}, "changed": False}
    result, runs = run(setup=gathered)
    assert runs == [("ansible.legacy.setup", {"gather_subset": ["min"]}, False)]
    facts = result["ansible_facts"]
    assert facts["image_fetch__platform"] == "linux/amd64"
    assert facts["ansible_architecture"] == "x86_64" and facts["ansible_system"] == "Linux"


def test_a_failed_fact_gathering_fails_the_task_with_its_message():
    result, _runs = run(setup={"failed": True, "msg": "no python on the host"})
    assert result["failed"] is True and result["msg"] == "no python on the host"
    assert "ansible_facts" not in result


def test_every_problem_in_one_message_and_no_facts():
    result, _runs = run(task_vars={"ansible_facts": {"architecture": "sparc64"}}, tag=None, via="ftp")
    assert result["failed"] is True
    assert result["msg"] == (
        "Set exactly one of image_fetch_tag and image_fetch_digest (tag None, digest None); "
        "image_fetch_via ftp is not one of direct, controller, relay; "
        "Cannot tell the OCI platform of host1 from its architecture sparc64; set image_fetch_platform, "
        "for example linux/amd64"
    )
    assert "ansible_facts" not in result
