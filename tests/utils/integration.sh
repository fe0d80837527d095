#!/usr/bin/env bash
# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Runs the ansible-test integration targets (the cloud/aws ones) from the collection copy
# under build/.
#   tests/utils/integration.sh            against the local ECR emulator, started and stopped here
#   tests/utils/integration.sh --aws      against real AWS, with the credentials you wrote into
#                                         tests/integration/cloud-config-aws.ini (see its .template)
# Extra arguments go to ansible-test (for example a target name, or -vvv). AIRGAP_VENV names the
# tool chain's virtual environment when it is not this tree's .venv (make artifact runs this script
# from an installed copy of the collection).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv="${AIRGAP_VENV:-$root/.venv}"
python="$venv/bin/python"
build="${AIRGAP_BUILD:-$root/build}"
coll="$build/ansible_collections/airgap/ecr"
config="$coll/tests/integration/cloud-config-aws.ini"

mode=emulator
if [ "${1:-}" = "--aws" ]; then
  mode=aws
  shift
fi

if [ "$mode" = aws ]; then
  source_config="$root/tests/integration/cloud-config-aws.ini"
  [ -f "$source_config" ] || {
    echo "Write your AWS credentials into $source_config first (start from cloud-config-aws.ini.template)." >&2
    exit 2
  }
  cp "$source_config" "$config"
else
  state="$build/emulator-integration"
  "$python" "$root/tests/emulator/harness.py" stop --dir "$state" >/dev/null 2>&1 || true
  endpoint=$("$python" "$root/tests/emulator/harness.py" start --dir "$state" --auth)
  trap '"$python" "$root/tests/emulator/harness.py" stop --dir "$state"' EXIT
  # The emulator's full-access credentials (tests/emulator/README.md), as shell variables.
  eval "$("$python" "$root/tests/emulator/harness.py" credentials)"
  cat > "$config" <<INI
[default]
aws_access_key = $AWS_ACCESS_KEY_ID
aws_secret_key = $AWS_SECRET_ACCESS_KEY
security_token =
aws_region = us-east-1
aws_endpoint_url = $endpoint
emulator_control_url = $endpoint
INI
fi

cd "$coll"
"$venv/bin/ansible-test" integration --local --python 3.11 --color no "$@"
