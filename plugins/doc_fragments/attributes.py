# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    """The ``attributes`` of this collection's modules.

    ``airgap.ecr.attributes`` is the block of a module that only reads from AWS;
    ``airgap.ecr.attributes.action_group`` adds the membership of C(group/airgap.ecr.aws);
    ``airgap.ecr.attributes.target`` is the support of a module that runs on the target host, whose attributes
    ``ansible.builtin.action_common_attributes`` describes (a module adds its check mode's ``details``).
    """

    DOCUMENTATION = r"""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - The module only reads from ECR, so in check mode it makes the same calls and returns the real result.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
"""

    ACTION_GROUP = r"""
attributes:
  action_group:
    description: Use C(group/airgap.ecr.aws) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - airgap.ecr.aws
"""

    TARGET = r"""
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
"""
