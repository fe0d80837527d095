#!/usr/bin/env bash
# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# make artifact: the collection as its users get it, built, installed and run.
#  1. copies the collection (tests/utils/collection_tree.sh) into a scratch directory and puts
#     there what a checkout in use holds: a sample of every path .gitignore lists (virtual
#     environments, build trees, demo-out, emulator state, .cache, test caches, credentials),
#     plus a few that must stay out even if .gitignore forgot them;
#  2. builds it with `ansible-galaxy collection build` and checks the tarball: none of those
#     paths, and every file of the collection except the development-only ones ($dev_only,
#     left out by galaxy.yml's build_ignore);
#  3. installs the tarball offline into an empty collections path that holds only a copy of
#     amazon.aws, which must satisfy the declared dependency (nothing is downloaded);
#  4. with ANSIBLE_COLLECTIONS_PATH naming only that path, runs the demo (tests/utils/demo.sh)
#     and one integration target (tests/utils/integration.sh, default $target) from the
#     installed copy, and checks in -vvv output that each of this collection's modules ran from
#     the installed copy.
# A file missing from the artifact, or one that should not be in it, fails the check.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv="${AIRGAP_VENV:-$root/.venv}"
build="${AIRGAP_BUILD:-$root/build}"
export PATH="$venv/bin:$PATH"
target="${1:-lookup_ecr_layer_url}"

# In git, deliberately not in the artifact: development-only (galaxy.yml build_ignore), and
# galaxy.yml, which the build replaces with MANIFEST.json.
dev_only=(.ci .gitignore .ansible-lint ruff.toml Makefile benchmarks galaxy.yml)
# Never in the artifact, whatever .gitignore says (a trailing / plants a directory).
never=(.venv/ .venv-molecule/ build/ build-x/ demo-out/ .cache/ tests/emulator/state/ tests/output/
  tests/integration/cloud-config-aws.ini tests/integration/inventory airgap-ecr-0.0.0.tar.gz)
# The modules the demo runs (the role: ecr_image_layers, oci_layout; fetch_layers: ecr_layer_url).
modules=(ecr_layer_url ecr_image_layers oci_layout)

fail() {
  echo "make artifact: $*" >&2
  exit 1
}

# Outside any git checkout: ansible-test would ask that repository for the installed files.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if git -C "$work" rev-parse --git-dir >/dev/null 2>&1; then
  fail "$work lies inside a git checkout; point TMPDIR elsewhere"
fi

echo "== 1. a copy of the collection, with what a checkout in use holds"
cd "$root"
tests/utils/collection_tree.sh "$work/src" >/dev/null
src="$work/src/ansible_collections/airgap/ecr"
git -C "$src" ls-files >"$work/files"
planted=(.git)
plant() {
  local path="$src/${1%/}"
  planted+=("${1%/}")
  [ ! -e "$path" ] || return 0
  if [[ $1 == */ ]]; then
    mkdir -p "$path"
    : >"$path/planted"
  else
    mkdir -p "$(dirname "$path")"
    : >"$path"
  fi
}
while IFS= read -r pattern; do
  case "$pattern" in '' | '#'* | '!'*) continue ;; esac
  sample=${pattern//\*/x}
  if [[ $sample == /* ]]; then
    plant "${sample#/}"
  else
    # Unanchored: at the top and further down.
    plant "$sample"
    plant "plugins/modules/$sample"
  fi
done <"$root/.gitignore"
for path in "${never[@]}"; do plant "$path"; done
echo "planted ${#planted[@]} paths next to $(wc -l <"$work/files") files of the collection"

echo "== 2. ansible-galaxy collection build, and what the tarball holds"
ansible-galaxy collection build "$src" --output-path "$work/dist"
tarballs=("$work/dist"/airgap-ecr-*.tar.gz)
tarball=${tarballs[0]}
tar -tzf "$tarball" | sed 's#/$##' | sort >"$work/members"
leaked=$(for path in "${planted[@]}"; do
  awk -v p="$path" '$0 == p || index($0, p "/") == 1' "$work/members"
done | sort -u)
[ -z "$leaked" ] || fail "the artifact holds files that must stay out (add them to build_ignore in galaxy.yml):
$leaked"
dev_pattern=$(printf '%s\n' "${dev_only[@]}" | sed 's#[.]#[.]#g; s#.*#^&(/|$)#' | paste -sd'|')
missing=$(grep -Ev "$dev_pattern" "$work/files" | sort | comm -23 - "$work/members")
[ -z "$missing" ] || fail "files of the collection are missing from the artifact (check build_ignore in galaxy.yml):
$missing"
echo "$(basename "$tarball"): $(wc -l <"$work/members") entries; every file except ${dev_only[*]}, none of the planted paths"

echo "== 3. install offline next to amazon.aws"
install="$work/collections"
mkdir -p "$install/ansible_collections/amazon"
cp -a "$build/ansible_collections/amazon/aws" "$install/ansible_collections/amazon/"
export ANSIBLE_COLLECTIONS_PATH="$install" AIRGAP_BUILD="$install" AIRGAP_VENV="$venv"
ansible-galaxy collection install --offline -p "$install" "$tarball"
installed="$install/ansible_collections/airgap/ecr"
ansible-galaxy collection list airgap.ecr

echo "== 4. the demo and integration target $target, from the installed copy"
log="$work/demo.log"
"$installed/tests/utils/demo.sh" -vvv >"$log" 2>&1 || {
  tail -n 40 "$log" >&2
  fail "the demo failed from the installed collection"
}
! grep -q MISMATCH "$log" || fail "the demo fetched a blob that does not match its digest"
for module in "${modules[@]}"; do
  grep -qF "Using module file $installed/plugins/modules/$module.py" "$log" ||
    fail "the demo did not run $module from the installed copy $installed"
done
elsewhere=$(grep -F 'Using module file' "$log" | grep -F /airgap/ecr/ | grep -vF "Using module file $installed/" || true)
[ -z "$elsewhere" ] || fail "the demo ran modules from outside the installed copy:
$elsewhere"
echo "demo: passed; ${modules[*]} ran from $installed"
log="$work/integration.log"
"$installed/tests/utils/integration.sh" "$target" >"$log" 2>&1 || {
  tail -n 40 "$log" >&2
  fail "integration target $target failed from the installed collection"
}
grep -F 'PLAY RECAP' -A 2 "$log" | grep -E 'ok=[0-9]+' | sed 's/^/integration: /'
echo "make artifact: passed"
