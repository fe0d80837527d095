# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Identity of this collection, shared by the modules and the plugins."""

AIRGAP_ECR_COLLECTION_NAME = "airgap.ecr"
# Kept equal to galaxy.yml's version; tests/unit checks that they match.
AIRGAP_ECR_COLLECTION_VERSION = "0.1.0"
