#!/usr/bin/env bash
# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# Contender (3): `aws ecr get-download-url-for-layer` run once per digest, from a shell.
# usage: aws_cli_layer_urls.sh AWS ENDPOINT REPOSITORY DIGESTS_FILE (one digest a line)
set -euo pipefail
aws=$1 endpoint=$2 repository=$3 digests=$4
while read -r digest; do
  "$aws" ecr get-download-url-for-layer --endpoint-url "$endpoint" \
    --repository-name "$repository" --layer-digest "$digest" --query downloadUrl --output text >/dev/null
done <"$digests"
