#!/usr/bin/env bash
# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# docs/reference/ is rendered by antsibull-docs from the plugins' own documentation.
#   tests/utils/docs.sh render   rewrite docs/reference/
#   tests/utils/docs.sh check    fail when docs/reference/ is not what render would write
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$root/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="${AIRGAP_BUILD:-$root/build}"
reference="$root/docs/reference"

render() {
  rm -rf "$1"
  mkdir -p "$1"
  antsibull-docs collection --use-current --squash-hierarchy --output-format simplified-rst \
    --fail-on-error --no-add-antsibull-docs-version --dest-dir "$1" airgap.ecr >/dev/null
}

case "${1:-}" in
  render)
    render "$reference"
    echo "rendered $(find "$reference" -type f | wc -l) files into docs/reference/"
    ;;
  check)
    fresh=$(mktemp -d)
    trap 'rm -rf "$fresh"' EXIT
    render "$fresh/reference"
    if ! diff -ru "$reference" "$fresh/reference"; then
      echo "docs/reference/ is out of date with the plugins' documentation: run 'make docs' and commit it." >&2
      exit 1
    fi
    echo "docs/reference/ is current"
    ;;
  *)
    echo "usage: $0 render|check" >&2
    exit 2
    ;;
esac
