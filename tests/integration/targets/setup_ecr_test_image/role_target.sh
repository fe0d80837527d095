# shellcheck shell=bash disable=SC2034,SC2154 # sets variables for the script that sources it, reads its description
# Sourced by the runme.sh of the targets that run the image_fetch role (image_fetch, image_fetch_set,
# image_fetch_via_controller, which sets cleanup_playbook to image_fetch's), with the
# script's arguments and $description set to the name of the file, in $workdir, that setup.yml writes:
# finds the -e @FILE config among the arguments, checks for skopeo and umoci, and sets emulator (the
# emulator's control URL, empty against AWS), workdir (a temporary directory, removed on exit after cleanup.yml
# ran with -e @$workdir/$description), python and ANSIBLE_ROLES_PATH; defines relay_run.
for arg in "$@"; do
  case "$arg" in @*) config=${arg#@} ;; esac
done
[ -f "${config:-}" ] || { echo "no -e @FILE among the arguments: $*" >&2; exit 2; }
for tool in skopeo umoci; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install $tool)" >&2; exit 1; }
done
emulator=$(python -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1])).get("emulator_control_url") or "")' "$config")

workdir=$(mktemp -d)
export ANSIBLE_ROLES_PATH=..
python=$(command -v python)
cleanup() {
  ansible-playbook "${cleanup_playbook:-cleanup.yml}" -e "@$workdir/$description" "$@" >/dev/null 2>&1 \
    || true
  rm -rf "$workdir"
}
trap 'cleanup "$@"' EXIT
fleet_vars() {  # the [fleet:vars] of an inventory of local-connection hosts
  echo "[fleet:vars]"
  echo "ansible_connection=local"
  echo "ansible_python_interpreter=$python"
}
relay_run() {  # relay_run LOG DIR RELAY_HOST ARGS...: the role with image_fetch_via=relay on new hosts under DIR
  # (the runme's inventory and play functions), the relay on a free port of 127.0.0.1; exits when the run fails,
  # when the relay still listens after it, or when a relay URL (its secret path) is in LOG.
  local log=$1 dir=$2 host=$3 port
  shift 3
  port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  inventory "$workdir/inventory" "$dir"
  play "$log" -e image_fetch_via=relay -e "image_fetch_relay_host=$host" -e image_fetch_relay_address=127.0.0.1 \
    -e "image_fetch_relay_port=$port" "$@" || { cat "$log"; echo "the relay run failed" >&2; exit 1; }
  if curl -s -o /dev/null "http://127.0.0.1:$port/"; then echo "the relay still listens on port $port" >&2; exit 1; fi
  if grep -Eq '[A-Za-z0-9_-]{22,}/blobs/' "$log"; then echo "a relay URL is in the output" >&2; exit 1; fi
}
