# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment:
    """The options of an ECR request that the ECR modules and the lookup share (module_utils/ecr_request.py)."""

    DOCUMENTATION = r"""
options:
  repository:
    description:
      - Name of the ECR repository, for example C(team/app), without the registry host and without a tag.
      - Between 2 and 256 characters, lowercase letters and digits separated by C(.), C(_), C(__), C(-)
        within a path component and by C(/) between components.
    type: str
    required: true
  registry_id:
    description:
      - The 12-digit AWS account id of the registry that holds the repository.
      - When omitted, the registry of the account of the credentials is used.
      - Quote it in YAML so that it stays a string.
    type: str
  concurrency:
    description:
      - How many C(GetDownloadUrlForLayer) requests may be in flight at once, when several layers are resolved.
      - Between 1 and 64.
    type: int
    default: 16
"""
