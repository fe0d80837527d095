#!/usr/bin/env bash
# The image_fetch role on three inventory hosts (local connection, one layout each):
# skopeo and umoci read the result; one resolution serves all hosts; a second run changes
# nothing; check mode writes nothing; remembered URLs that expired are refreshed for a later
# serial batch; a corrupted blob fails the run and leaves no file behind; with image_fetch_via=relay,
# S3 serves each blob once for the three hosts.
# shellcheck disable=SC2154 # workdir, python and emulator come from role_target.sh
set -eu
export description=image.json
# shellcheck disable=SC1091 # role_target.sh is read where the target runs
. ../setup_ecr_test_image/role_target.sh

inventory() {  # inventory FILE DIR: three hosts whose layouts are under DIR
  {
    echo "[fleet]"
    for host in host1 host2 host3; do echo "$host image_fetch_dest=$2/$host"; done
    echo "[fleet:vars]"
    echo "ansible_connection=local"
    echo "ansible_python_interpreter=$python"
  } >"$1"
}
control() {  # control METHOD PATH [JSON]
  curl -sSf -X "$1" -H 'Content-Type: application/json' ${3:+--data "$3"} "$emulator/_emulator/$2" >/dev/null
}
play() {  # play LOG ARGS...: run fetch.yml, keep the output in LOG
  local log=$1
  shift
  ansible-playbook -i "$workdir/inventory" fetch.yml -e "@$workdir/image.json" "$@" >"$log" 2>&1
}
recap_changed() {  # the number of hosts whose recap shows changes
  grep -E '^host[0-9]+ +:' "$1" | grep -vc 'changed=0' || true
}

ansible-playbook setup.yml -e "workdir=$workdir" "$@"
blobs=$(python -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["blobs"]))' "$workdir/image.json")
inventory "$workdir/inventory" "$workdir/layouts"

echo "== first run: three hosts"
play "$workdir/first.log" "$@" || { cat "$workdir/first.log"; exit 1; }
[ "$(recap_changed "$workdir/first.log")" = 3 ] || { cat "$workdir/first.log"; echo "expected changes on the three hosts" >&2; exit 1; }
if [ -n "$emulator" ]; then
  ansible-playbook verify.yml -e "@$workdir/image.json" -e expected_resolutions=1 -e expected_downloads=3 "$@"
fi
for host in host1 host2 host3; do
  layout="$workdir/layouts/$host"
  skopeo inspect "oci:$layout:test" >"$workdir/inspect.json"
  python - "$workdir/inspect.json" "$workdir/image.json" <<'PY'
import json, sys
inspect, image = (json.load(open(p)) for p in sys.argv[1:])
assert inspect["Layers"] == image["blobs"][1:], (inspect["Layers"], image["blobs"])
assert inspect["Architecture"] == "amd64" and inspect["Os"] == "linux", inspect
PY
  skopeo copy --quiet "oci:$layout:test" "docker-archive:$workdir/$host-docker.tar:airgap/test:test"
  skopeo inspect "oci-archive:$layout.tar:test" >/dev/null
  umoci unpack --rootless --image "$layout:test" "$workdir/$host-bundle" >/dev/null
  [ -d "$workdir/$host-bundle/rootfs/data" ] || { echo "umoci unpacked no rootfs for $host" >&2; exit 1; }
  [ -z "$(find "$layout" -name '.*')" ] || { echo "temporary files left in $layout" >&2; exit 1; }
  # the config and layers, plus the Docker manifest as ECR served it and its OCI conversion
  [ "$(find "$layout/blobs/sha256" -type f | wc -l)" = $((blobs + 2)) ] || { echo "unexpected blobs in $layout" >&2; exit 1; }
done

echo "== second run: nothing changes"
play "$workdir/second.log" "$@" || { cat "$workdir/second.log"; exit 1; }
[ "$(recap_changed "$workdir/second.log")" = 0 ] || { cat "$workdir/second.log"; echo "the second run changed something" >&2; exit 1; }

echo "== check mode on new hosts: nothing is written"
inventory "$workdir/inventory" "$workdir/check"
play "$workdir/check.log" --check "$@" || { cat "$workdir/check.log"; exit 1; }
[ ! -e "$workdir/check" ] || { find "$workdir/check"; echo "check mode wrote files" >&2; exit 1; }
grep -q "would_fetch\|blobs fetched" "$workdir/check.log" || true

if [ -n "$emulator" ]; then
  echo "== relay: host1 downloads from S3 once and serves host2 and host3; the relay is stopped at the end"
  relay_run "$workdir/relay.log" "$workdir/relay" host1 "$@"
  ansible-playbook verify.yml -e "@$workdir/image.json" -e expected_resolutions=1 -e expected_downloads=1 "$@"
  for host in host1 host2 host3; do
    skopeo inspect "oci:$workdir/relay/$host:test" >/dev/null
    [ -z "$(find "$workdir/relay/$host" -name '.*')" ] \
      || { echo "temporary files left in $workdir/relay/$host" >&2; exit 1; }
  done
fi

if [ -n "$emulator" ]; then
  echo "== serial batches: remembered URLs that would expire too soon are resolved again for later batches"
  # URLs live 30 s, and a resolution is reused only while its URLs have 28 s left: 4 s between batches make
  # each later batch resolve again, and a download has 30 s to use its URLs however loaded the machine is.
  control POST config '{"url_ttl": 30}'
  inventory "$workdir/inventory" "$workdir/serial"
  play "$workdir/serial.log" -e batch_size=1 -e min_lifetime=28 -e pause_between_batches=4 "$@" \
    || { cat "$workdir/serial.log"; exit 1; }
  ansible-playbook verify.yml -e "@$workdir/image.json" -e expected_resolutions=3 -e expected_downloads=3 "$@"
  control POST config '{"url_ttl": 3600}'

  echo "== a corrupted blob fails the host and leaves no file behind"
  layer=$(python -c 'import json, sys; print(json.load(open(sys.argv[1]))["blobs"][2])' "$workdir/image.json")
  control POST faults "{\"operation\": \"GetObject\", \"count\": null, \"corrupt\": true, \"digest\": \"$layer\"}"
  inventory "$workdir/inventory" "$workdir/corrupt"
  if play "$workdir/corrupt.log" "$@"; then cat "$workdir/corrupt.log"; echo "a corrupted blob was accepted" >&2; exit 1; fi
  control DELETE faults
  grep -q "${layer#sha256:}" "$workdir/corrupt.log" || { cat "$workdir/corrupt.log"; echo "the failure does not name the blob" >&2; exit 1; }
  for host in host1 host2 host3; do
    [ ! -e "$workdir/corrupt/$host/blobs/sha256/${layer#sha256:}" ] || { echo "a corrupted blob is at its final path" >&2; exit 1; }
    [ ! -e "$workdir/corrupt/$host/index.json" ] || { echo "index.json was written for an incomplete layout" >&2; exit 1; }
  done
fi
echo "image_fetch: all checks passed"
