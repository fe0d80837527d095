#!/usr/bin/env bash
# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# Copies this collection's files (tracked, plus new files git does not ignore) to
# DEST/ansible_collections/airgap/ecr, replacing what was there. ansible-test refuses a
# symlink, and a copy keeps build products out of the source tree.
set -euo pipefail
dest=${1:?usage: $0 DEST}
root=$(git rev-parse --show-toplevel)
target="$dest/ansible_collections/airgap/ecr"
staging="$target.partial"
rm -rf "$staging"
mkdir -p "$staging"
cd "$root"
git ls-files -z --cached --others --exclude-standard \
  | while IFS= read -r -d '' file; do [ -e "$file" ] && printf '%s\0' "$file"; done \
  | tar --null --files-from=- -cf - \
  | tar -xf - -C "$staging"
# The copy lies inside this (ignored) checkout, where ansible-test would ask git for the
# collection's files and find none: give the copy a repository of its own.
git -C "$staging" init --quiet
git -C "$staging" add --all
rm -rf "$target"
mv "$staging" "$target"
