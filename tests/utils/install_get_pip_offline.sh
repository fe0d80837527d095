#!/usr/bin/env bash
# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Installs tests/utils/get_pip_offline.py where ansible-test looks for its cached get-pip script,
# for the pip version that the installed ansible-test pins.
set -euo pipefail
python=${1:?usage: $0 PYTHON}
here=$(cd "$(dirname "$0")" && pwd)
source_file=$("$python" -c 'import ansible_test, os; print(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py"))')
version=$(grep -oE "pip='[0-9.]+'" "$source_file" | head -n 1 | cut -d"'" -f2)
[ -n "$version" ] || { echo "cannot find the pip version pinned by ansible-test in $source_file" >&2; exit 1; }
cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
cp "$here/get_pip_offline.py" "$cache/get_pip_${version//./_}.py"
