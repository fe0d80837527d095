#!/usr/bin/env bash
# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# The documentation, rendered by antsibull-docs from the plugins' own documentation (see docs/README.md).
#   tests/utils/docs.sh render   rewrite docs/reference/ (simplified RST, read in the repository)
#   tests/utils/docs.sh check    fail when docs/reference/ is not what render would write, when
#                                ansible-doc warns about any plugin or role, or when changelogs/ is
#                                invalid or CHANGELOG.rst is not what it generates
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
  (cd "$root" && cp --parents README.md LICENSE CHANGELOG.rst docs/*.md benchmarks/README.md "$src/")
  cp "$root/docs/site/index.rst" "$src/index.rst"
  render "$src/docs/reference" ansible-docsite
  # -n: every reference must resolve; -W --keep-going: report every warning, then fail.
  sphinx-build -b html -n -W --keep-going -q -c "$root/docs/site" -d "$out/doctrees" "$src" "$out/html"
  python "$root/tests/utils/docs_links.py" "$out/html"
}

# ansible-doc renders every plugin and role of the collection without a warning or an error.
plugin_docs() {
  local type name problems=0 names stderr
  for type in module lookup role; do
    names=$(ansible-doc -t "$type" -l airgap.ecr -j | python -c 'import json, sys; print("\n".join(json.load(sys.stdin)))')
    for name in $names; do
      if ! stderr=$(ansible-doc -t "$type" "$name" 2>&1 >/dev/null) || [ -n "$stderr" ]; then
        echo "ansible-doc -t $type $name: ${stderr:-failed}" >&2
        problems=$((problems + 1))
      fi
    done
  done
  [ "$problems" -eq 0 ] || exit 1
  echo "ansible-doc renders every module, lookup and role without a warning"
}

# changelogs/: the fragments and changelog.yaml are valid, and CHANGELOG.rst is what they generate.
changelog_check() {
  local copy
  copy=$(mktemp -d)
  (cd "$root" && antsibull-changelog lint && antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml)
  cp -r "$root/changelogs" "$root/galaxy.yml" "$copy/"
  [ ! -e "$root/CHANGELOG.rst" ] || cp "$root/CHANGELOG.rst" "$copy/"
  (cd "$copy" && antsibull-changelog generate)
  if ! diff -u "$root/CHANGELOG.rst" "$copy/CHANGELOG.rst"; then
    rm -rf "$copy"
    echo "CHANGELOG.rst is not what antsibull-changelog generates from changelogs/: run 'antsibull-changelog generate' and commit it." >&2
    exit 1
  fi
  rm -rf "$copy"
  echo "changelogs/ is valid and CHANGELOG.rst is current"
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
    plugin_docs
    changelog_check
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
