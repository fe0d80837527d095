#!/usr/bin/env bash
# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# ruff (ruff.toml), lint and format check, on the Python code of this checkout; ansible-lint,
# production profile and offline (.ansible-lint), on the collection copy under build/: the role,
# the playbooks, the molecule scenario, the integration targets and the benchmarks' playbooks;
# then on every plugin's EXAMPLES (tests/utils/lint_examples.py). All run; the script fails when
# any finds a failure. Extra arguments go to the first ansible-lint (for example a path, or -v).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build="${AIRGAP_BUILD:-$root/build}"
coll="$build/ansible_collections/airgap/ecr"
[ -d "$coll" ] || { echo "no collection copy in $coll: run 'make setup' first" >&2; exit 2; }
# ansible-lint and the ansible-playbook it runs for the syntax check, both from .venv.
export PATH="$root/.venv/bin:$PATH"
# airgap.ecr and amazon.aws are found in the build tree, nowhere else.
export ANSIBLE_COLLECTIONS_PATH="$build"
# The integration targets' playbooks use the roles beside them (setup_ecr_test_image), which
# ansible-test and their runme.sh (ANSIBLE_ROLES_PATH=..) put on the roles path.
export ANSIBLE_ROLES_PATH="$coll/tests/integration/targets"
cd "$coll"

status=0
echo "== ruff: lint and format check of the Python code (ruff.toml)"
ruff="$root/.venv/bin/ruff"
"$ruff" check --no-cache "$root" || status=1
"$ruff" format --check --no-cache "$root" || status=1
echo "== ansible-lint: role, playbooks, molecule scenario, integration targets, benchmarks"
ansible-lint --offline "$@" || status=1
echo "== ansible-lint: the EXAMPLES of every plugin"
"$root/.venv/bin/python" tests/utils/lint_examples.py || status=1
exit "$status"
