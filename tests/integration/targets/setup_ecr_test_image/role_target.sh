# shellcheck shell=bash disable=SC2034,SC2154 # sets variables for the script that sources it, reads its description
# Sourced by the runme.sh of the targets that run the image_fetch role (image_fetch, image_fetch_set), with the
# script's arguments and $description set to the name of the file, in $workdir, that setup.yml writes:
# finds the -e @FILE config among the arguments, checks for skopeo and umoci, and sets emulator (the
# emulator's control URL, empty against AWS), workdir (a temporary directory, removed on exit after cleanup.yml
# ran with -e @$workdir/$description), python and ANSIBLE_ROLES_PATH.
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
  ansible-playbook cleanup.yml -e "@$workdir/$description" "$@" >/dev/null 2>&1 || true
  rm -rf "$workdir"
}
trap 'cleanup "$@"' EXIT
