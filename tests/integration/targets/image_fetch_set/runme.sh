#!/usr/bin/env bash
# The image_fetch role with an image set (a Docker schema 2 image, an OCI image and a multi-platform OCI index,
# sharing base layers) on two inventory hosts of different platforms (local connection, one layout each):
# check_layout.py, skopeo and umoci read the result; each platform is resolved once and each distinct blob
# fetched once per host; the summary has the figures; a second run changes nothing; check mode writes nothing;
# with image_fetch_via=relay, the amd64 host pulls the blobs of both platforms from S3 once and serves the other.
# shellcheck disable=SC2154 # workdir, python and emulator come from role_target.sh
set -eu
export description=set.json
# shellcheck disable=SC1091 # role_target.sh is read where the target runs
. ../setup_ecr_test_image/role_target.sh

inventory() {  # inventory FILE DIR: an amd64 host and an arm64 host whose layouts are under DIR
  {
    echo "[fleet]"
    echo "amd image_fetch_dest=$2/amd image_fetch_platform=linux/amd64"
    echo "arm image_fetch_dest=$2/arm image_fetch_platform=linux/arm64/v8"
    fleet_vars
  } >"$1"
}
play() {  # play LOG ARGS...: run fetch.yml, keep the output in LOG
  local log=$1
  shift
  ansible-playbook -i "$workdir/inventory" fetch.yml -e "@$workdir/set.json" "$@" >"$log" 2>&1
}
recap_changed() {  # the number of hosts whose recap shows changes
  grep -E '^(amd|arm) +:' "$1" | grep -vc 'changed=0' || true
}
fail() {  # fail LOG MESSAGE
  cat "$1"
  echo "$2" >&2
  exit 1
}

ansible-playbook setup.yml -e "workdir=$workdir" "$@"
inventory "$workdir/inventory" "$workdir/layouts"

echo "== first run: three images onto an amd64 host and an arm64 host"
play "$workdir/first.log" "$@" || fail "$workdir/first.log" "the first run failed"
[ "$(recap_changed "$workdir/first.log")" = 2 ] || fail "$workdir/first.log" "expected changes on both hosts"
total=0
for host in amd arm; do
  layout="$workdir/layouts/$host"
  platform=$(grep "^$host " "$workdir/inventory" | sed 's/.*image_fetch_platform=//')
  blobs=$(python check_layout.py "$workdir/set.json" "$layout" "$platform")
  total=$((total + blobs))
  # the summary: the set's figures, and this host's line
  grep -q "3 image(s) for 2 platform(s) on 2 host(s)" "$workdir/first.log" || fail "$workdir/first.log" "no summary"
  grep -q "shared by several images and fetched once per host" "$workdir/first.log" \
    || fail "$workdir/first.log" "the summary does not count the shared blobs"
  grep -q "$host: 3 image(s) for $platform into $layout: $blobs/$blobs blobs in place ($blobs fetched" \
    "$workdir/first.log" || fail "$workdir/first.log" "no summary line for $host"
  for ref in app-1 worker multi-1; do
    skopeo inspect "oci:$layout:$ref" >"$workdir/inspect.json"
    python - "$workdir/inspect.json" "$ref" "$platform" <<'PY'
import json, sys
inspect, ref, platform = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
wanted = platform.split("/")[1] if ref == "multi-1" else "amd64"
assert inspect["Architecture"] == wanted and inspect["Os"] == "linux", (ref, inspect)
assert len(inspect["Layers"]) == {"app-1": 4, "worker": 3, "multi-1": 3}[ref], (ref, inspect["Layers"])
PY
  done
  umoci unpack --rootless --image "$layout:worker" "$workdir/$host-bundle" >/dev/null
  [ -d "$workdir/$host-bundle/rootfs/data" ] || { echo "umoci unpacked no rootfs for $host" >&2; exit 1; }
done
if [ -n "$emulator" ]; then
  ansible-playbook verify.yml -e expected_blobs="$total" "$@"
fi

echo "== second run: nothing changes, nothing is downloaded"
play "$workdir/second.log" "$@" || fail "$workdir/second.log" "the second run failed"
[ "$(recap_changed "$workdir/second.log")" = 0 ] || fail "$workdir/second.log" "the second run changed something"
grep -q "0 bytes downloaded" "$workdir/second.log" || fail "$workdir/second.log" "the second run downloaded"

echo "== check mode on new hosts: nothing is written, the summary says what would be fetched"
inventory "$workdir/inventory" "$workdir/check"
play "$workdir/check.log" --check "$@" || fail "$workdir/check.log" "check mode failed"
[ ! -e "$workdir/check" ] || { find "$workdir/check"; echo "check mode wrote files" >&2; exit 1; }
grep -q "amd: 3 image(s) for linux/amd64 into $workdir/check/amd: would fetch [1-9][0-9]* of" "$workdir/check.log" \
  || fail "$workdir/check.log" "check mode does not say what would be fetched"
grep -q "3 image(s) would change" "$workdir/check.log" || fail "$workdir/check.log" "check mode says no image would change"
if [ -n "$emulator" ]; then
  echo "== relay: amd pulls the union of both platforms' blobs from S3 once, arm downloads its set's from amd"
  relay_run "$workdir/relay.log" "$workdir/relay" amd "$@"
  union=$(python check_layout.py "$workdir/set.json" "$workdir/relay/amd" linux/amd64 linux/arm64/v8)
  arm=$(python check_layout.py "$workdir/set.json" "$workdir/relay/arm" linux/arm64/v8)
  grep -q "arm: 3 image(s) for linux/arm64/v8 into $workdir/relay/arm: $arm/$arm blobs in place ($arm fetched" \
    "$workdir/relay.log" || fail "$workdir/relay.log" "no summary line for arm"
  ansible-playbook verify.yml -e expected_blobs="$total" -e expected_downloads="$union" "$@"
fi
echo "image_fetch_set: all checks passed"
