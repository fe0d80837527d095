#!/usr/bin/env bash
# Runs playbook.yml (a success and a failure of ecr_layer_url) at -vvvv with a log file,
# then checks that neither the output nor the log holds the secret key or session token.
set -eu
# ansible-test passes the cloud configuration's variables as -e @FILE.
config=
for arg in "$@"; do
  case "$arg" in @*) config=${arg#@} ;; esac
done
[ -f "$config" ] || { echo "no -e @FILE with the test variables among the arguments: $*" >&2; exit 2; }
workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT

export ANSIBLE_LOG_PATH="$workdir/ansible.log"
export ANSIBLE_ROLES_PATH=..
if ! ansible-playbook -vvvv playbook.yml "$@" >"$workdir/output.txt" 2>&1; then
  cat "$workdir/output.txt"
  echo "the playbook failed" >&2
  exit 1
fi

found=0
for key in aws_secret_key security_token; do
  value=$(python -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1])).get(sys.argv[2]) or "")' "$config" "$key")
  [ -n "$value" ] || continue
  for file in "$workdir/output.txt" "$ANSIBLE_LOG_PATH"; do
    if grep -qF -- "$value" "$file"; then
      echo "the value of $key appears in $(basename "$file")" >&2
      found=1
    fi
  done
done
grep -q "ecr_layer_url" "$workdir/output.txt" || { echo "the output does not show the module ran" >&2; exit 1; }
exit "$found"
