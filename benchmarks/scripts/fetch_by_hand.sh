#!/usr/bin/env bash
# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Row 6, what a person would do by hand: for each blob, ask the AWS CLI for its URL, download
# it with curl and check it with sha256sum.
# usage: fetch_by_hand.sh AWS ENDPOINT REPOSITORY DIGESTS_FILE (one digest a line) DEST
set -euo pipefail
aws=$1 endpoint=$2 repository=$3 digests=$4 dest=$5
mkdir -p "$dest"
while read -r digest; do
  hex=${digest#sha256:}
  url=$("$aws" ecr get-download-url-for-layer --endpoint-url "$endpoint" \
    --repository-name "$repository" --layer-digest "$digest" --query downloadUrl --output text)
  curl --fail --silent --show-error --output "$dest/$hex" "$url"
  echo "$hex  $dest/$hex" | sha256sum --check --quiet -
done <"$digests"
