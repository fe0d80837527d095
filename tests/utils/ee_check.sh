#!/usr/bin/env bash
# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# make ee-check: this collection in an execution environment.
# Builds the collection's tarball, writes an execution environment definition (version 3) that
# installs it, and runs `ansible-builder create`, which writes the build context only: no image
# is built and the base image, whose name is made up, is never pulled. Then checks the context:
#  - it holds the tarball, and its galaxy requirements install that tarball;
#  - its Containerfile installs the galaxy requirements and runs ansible-builder's introspection;
#  - replaying those two build steps here, offline, with the context's own requirements.yml and
#    introspect.py, yields every line of requirements.txt and bindep.txt as a requirement of
#    airgap.ecr (what meta/execution-environment.yml declares), and bindep can parse the result.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv="${AIRGAP_VENV:-$root/.venv}"
build="${AIRGAP_BUILD:-$root/build}"
export PATH="$venv/bin:$PATH"
from="  # from collection airgap.ecr"

fail() {
  echo "make ee-check: $*" >&2
  exit 1
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

ansible-galaxy collection build "$build/ansible_collections/airgap/ecr" --output-path "$work/dist" >/dev/null
tarballs=("$work/dist"/airgap-ecr-*.tar.gz)
tarball=$(basename "${tarballs[0]}")

mkdir "$work/ee"
cat >"$work/ee/execution-environment.yml" <<EOF
---
version: 3
images:
  base_image:
    name: airgap-ecr-ee-check-base:never-pulled
dependencies:
  ansible_core:
    package_pip: ansible-core>=2.17
  ansible_runner:
    package_pip: ansible-runner
  galaxy:
    collections:
      - name: collections/$tarball
        type: file
additional_build_files:
  - src: ../dist/$tarball
    dest: collections
EOF
context="$work/context"
ansible-builder create --file "$work/ee/execution-environment.yml" --context "$context" \
  --output-filename Containerfile >/dev/null
echo "ansible-builder $(ansible-builder --version) wrote a build context for $tarball"

cmp -s "$work/dist/$tarball" "$context/_build/collections/$tarball" ||
  fail "the build context does not hold $tarball (additional_build_files)"
grep -qF "collections/$tarball" "$context/_build/requirements.yml" ||
  fail "the context's galaxy requirements do not name $tarball"
for step in 'ansible-galaxy collection install' 'introspect.py introspect'; do
  grep -qF "$step" "$context/Containerfile" || fail "the Containerfile has no '$step' step"
done

# The galaxy stage (from /build, the context's _build) and the builder stage's introspection.
# amazon.aws would come from Galaxy; the requirements checked here are this collection's own.
collections="$work/usr/share/ansible/collections"
(cd "$context/_build" && ANSIBLE_COLLECTIONS_PATH="$collections" \
  ansible-galaxy collection install --offline --no-deps -r requirements.yml -p "$collections" >/dev/null)
python "$context/_build/scripts/introspect.py" introspect "$collections" \
  --write-pip "$work/requirements.txt" --write-bindep "$work/bindep.txt" >/dev/null
touch "$work/requirements.txt" "$work/bindep.txt" # introspect writes neither when it finds nothing

for kind in requirements.txt bindep.txt; do
  expected=$(sed -E 's/[[:space:]]*#.*//; /^[[:space:]]*$/d' "$root/$kind" | sed "s/\$/$from/")
  [ -n "$expected" ] || fail "$kind declares nothing"
  missing=$(grep -vxFf "$work/$kind" <<<"$expected" || true)
  [ -z "$missing" ] || fail "an execution environment with airgap.ecr would lack these lines of $kind:
$missing
ansible-builder found: $(if [ -s "$work/$kind" ]; then echo; cat "$work/$kind"; else echo nothing; fi)"
  echo "$kind: $(wc -l <<<"$expected") requirements of airgap.ecr reach the execution environment"
done
bindep --file "$work/bindep.txt" --list_all newline >/dev/null || fail "bindep cannot read the system requirements"
echo "make ee-check: passed"
