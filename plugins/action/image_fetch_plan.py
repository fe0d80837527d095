# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The image_fetch_plan action: the image_fetch role's first task on each host, on the controller.

Gathers the host's minimal facts when its platform must come from its architecture and no fact tells it yet,
checks the role's variables (every problem in one message, before any ECR call), and sets the facts the role's
other tasks read. One task where the role had three (a fact gathering, a fact task and an assert), each a fork of
ansible-playbook per host, and no template to compile in each fork.
"""

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.airgap.ecr.plugins.module_utils.role_plan import host_facts
from ansible_collections.airgap.ecr.plugins.module_utils.role_plan import host_platform
from ansible_collections.airgap.ecr.plugins.module_utils.role_plan import problems

ARGUMENT_SPEC = dict(
    images=dict(type="list", elements="dict", default=[]),
    repository=dict(type="str"),
    tag=dict(type="str"),
    digest=dict(type="str"),
    ref_name=dict(type="str"),
    registry_id=dict(type="str"),
    platform=dict(type="str"),
    dest=dict(type="str", required=True),
    via=dict(type="str", default="direct"),
    platforms=dict(type="dict", required=True),
    via_modes=dict(type="list", elements="str", required=True),
)


class ActionModule(ActionBase):
    """One task per host: facts when needed, the checks, the role's facts (see the module's documentation)."""

    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        _validation, variables = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        gathered = {}
        architecture = (task_vars.get("ansible_facts") or {}).get("architecture")
        if variables["platform"] is None and architecture is None:
            gathered = self._gather(task_vars)
            if gathered.get("failed"):
                return dict(result, **gathered)
            architecture = gathered.get("ansible_facts", {}).get("ansible_architecture")
        platform = host_platform(variables, architecture)
        found = problems(variables, platform, task_vars.get("inventory_hostname"), architecture)
        if found:
            return dict(result, failed=True, msg="; ".join(found))
        result["ansible_facts"] = dict(gathered.get("ansible_facts", {}), **host_facts(variables, platform))
        result["changed"] = False
        return result

    def _gather(self, task_vars):
        """The setup module's minimal facts of the host (its architecture among them), as a task of it would."""
        try:
            return self._execute_module(
                module_name="ansible.legacy.setup",
                module_args={"gather_subset": ["min"]},
                task_vars=task_vars,
                wrap_async=False,
            )
        finally:
            try:
                self._remove_tmp_path(self._connection._shell.tmpdir)
            except AnsibleError:
                pass
