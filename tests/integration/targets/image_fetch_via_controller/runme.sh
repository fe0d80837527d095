#!/usr/bin/env bash
# image_fetch_via=controller on two inventory hosts (local connection, one layout each, plain-http URLs
# refused): the controller downloads each blob once into its cache and sends each host only what it
# lacks; the emulator's request log shows one download per blob for the whole play, and none in a
# second run; a host that lost a layer gets that layer only; check mode writes nothing.
# shellcheck disable=SC2154 # workdir, python and emulator come from role_target.sh
set -eu
export description=image.json
export cleanup_playbook=../image_fetch/cleanup.yml
# shellcheck disable=SC1091 # role_target.sh is read where the target runs
. ../setup_ecr_test_image/role_target.sh
shared=../image_fetch

inventory() {  # inventory FILE DIR: two hosts whose layouts are under DIR
  {
    echo "[fleet]"
    for host in host1 host2; do echo "$host image_fetch_dest=$2/$host"; done
    fleet_vars
  } >"$1"
}
play() {  # play LOG ARGS...: run fetch.yml, keep the output in LOG
  local log=$1
  shift
  ansible-playbook -i "$workdir/inventory" fetch.yml -e "@$workdir/image.json" -e "cache_dir=$workdir/cache" "$@" \
    >"$log" 2>&1
}
recap_changed() {  # the number of hosts whose recap shows changes
  grep -E '^host[0-9]+ +:' "$1" | grep -vc 'changed=0' || true
}
s3_downloads() {  # verify.yml of image_fetch: the ECR calls of one resolution, and DOWNLOADS downloads of each blob
  [ -z "$emulator" ] || ansible-playbook "$shared/verify.yml" -e "@$workdir/image.json" -e expected_resolutions=1 \
    -e "expected_downloads=$1" "${@:2}"
}

ansible-playbook "$shared/setup.yml" -e "workdir=$workdir" "$@"
blobs=$(python -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["blobs"]))' "$workdir/image.json")
inventory "$workdir/inventory" "$workdir/layouts"

echo "== first run: the controller downloads each blob once, both hosts get them all"
play "$workdir/first.log" "$@" || { cat "$workdir/first.log"; exit 1; }
[ "$(recap_changed "$workdir/first.log")" = 2 ] || { cat "$workdir/first.log"; echo "expected changes on both hosts" >&2; exit 1; }
s3_downloads 1 "$@"
grep -q "host1: .* ($blobs fetched, 0 already present)" "$workdir/first.log" || { cat "$workdir/first.log"; exit 1; }
[ "$(find "$workdir/cache/blobs/sha256" -type f | wc -l)" = "$blobs" ] || { echo "the cache does not hold each blob once" >&2; exit 1; }
for host in host1 host2; do
  layout="$workdir/layouts/$host"
  skopeo inspect "oci:$layout:test" >"$workdir/inspect.json"
  python - "$workdir/inspect.json" "$workdir/image.json" <<'PY'
import json, sys
inspect, image = (json.load(open(p)) for p in sys.argv[1:])
assert inspect["Layers"] == image["blobs"][1:], (inspect["Layers"], image["blobs"])
PY
  [ -z "$(find "$layout" -name '.*')" ] || { echo "temporary files left in $layout" >&2; exit 1; }
done

echo "== second run: nothing is downloaded, sent or changed"
play "$workdir/second.log" "$@" || { cat "$workdir/second.log"; exit 1; }
[ "$(recap_changed "$workdir/second.log")" = 0 ] || { cat "$workdir/second.log"; echo "the second run changed something" >&2; exit 1; }
s3_downloads 0 "$@"

echo "== a host that lost a layer is sent that layer only"
layer=$(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["blobs"][2])' "$workdir/image.json")
rm "$workdir/layouts/host2/blobs/sha256/${layer#sha256:}"
play "$workdir/third.log" "$@" || { cat "$workdir/third.log"; exit 1; }
grep -q "host2: .* (1 fetched, $((blobs - 1)) already present)" "$workdir/third.log" || { cat "$workdir/third.log"; exit 1; }
grep -q "host1: .* (0 fetched, $blobs already present)" "$workdir/third.log" || { cat "$workdir/third.log"; exit 1; }
s3_downloads 0 "$@"

echo "== check mode on new hosts: nothing is written on them"
inventory "$workdir/inventory" "$workdir/check"
play "$workdir/check.log" --check "$@" || { cat "$workdir/check.log"; exit 1; }
[ ! -e "$workdir/check" ] || { find "$workdir/check"; echo "check mode wrote files" >&2; exit 1; }
grep -q "host1: .* would fetch $blobs of $blobs blobs" "$workdir/check.log" || { cat "$workdir/check.log"; exit 1; }
echo "image_fetch_via_controller: all checks passed"
