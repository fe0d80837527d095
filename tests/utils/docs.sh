#!/usr/bin/env bash
# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# The documentation, rendered by antsibull-docs from the plugins' own documentation (see docs/README.md).
#   tests/utils/docs.sh render   rewrite docs/reference/ (simplified RST, read in the repository)
#   tests/utils/docs.sh check    fail when docs/reference/ is not what render would write
#   tests/utils/docs.sh site     build the HTML site into $AIRGAP_BUILD/docs/html (default build/):
#                                Sphinx warnings are errors, then every internal link is checked
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
export PATH="$root/.venv/bin:$PATH"
build="${AIRGAP_BUILD:-$root/build}"
export ANSIBLE_COLLECTIONS_PATH="$build"
reference="$root/docs/reference"

# render DEST FORMAT: the collection's plugin and role reference, in antsibull-docs' FORMAT.
render() {
  rm -rf "$1"
  mkdir -p "$1"
  antsibull-docs collection --use-current --squash-hierarchy --output-format "$2" \
    --fail-on-error --no-add-antsibull-docs-version --dest-dir "$1" airgap.ecr >/dev/null
}

site() {
  local out="$build/docs" src="$build/docs/src"
  rm -rf "$src" "$out/html" "$out/doctrees"
  mkdir -p "$src"
  # The pages besides the reference, at their paths in the repository, so that relative links
  # resolve as they do there (LICENSE because README.md links to it); the toctree is in
  # docs/site/index.rst, the root page.
  (cd "$root" && cp --parents README.md LICENSE docs/*.md benchmarks/README.md "$src/")
  cp "$root/docs/site/index.rst" "$src/index.rst"
  render "$src/docs/reference" ansible-docsite
  # -n: every reference must resolve; -W --keep-going: report every warning, then fail.
  sphinx-build -b html -n -W --keep-going -q -c "$root/docs/site" -d "$out/doctrees" "$src" "$out/html"
  python "$root/tests/utils/docs_links.py" "$out/html"
}

case "${1:-}" in
  render)
    render "$reference" simplified-rst
    echo "rendered $(find "$reference" -type f | wc -l) files into docs/reference/"
    ;;
  check)
    fresh=$(mktemp -d)
    trap 'rm -rf "$fresh"' EXIT
    render "$fresh/reference" simplified-rst
    if ! diff -ru "$reference" "$fresh/reference"; then
      echo "docs/reference/ is out of date with the plugins' documentation: run 'make docs' and commit it." >&2
      exit 1
    fi
    echo "docs/reference/ is current"
    ;;
  site)
    site
    echo "built the documentation site into $build/docs/html"
    ;;
  *)
    echo "usage: $0 render|check|site" >&2
    exit 2
    ;;
esac
