#!/usr/bin/env bash
# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# make test: runs the suites named as arguments (each is `make suite-NAME`, the suite without its
# set-up, which make test did once before), TEST_JOBS of them at a time (default 2), in the order
# given: the Makefile lists the longest first, so that the short ones fill the gaps at the end.
#  - each suite writes to its own log, $AIRGAP_BUILD/test-logs/NAME.log; when it ends, its whole log is
#    printed in one block, then one line: passed or FAILED, its wall time and its CPU seconds;
#  - every suite runs to its end, even when another failed; the run ends with a table of them all and
#    fails when any failed. TEST_JOBS=1 runs them one after the other.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build="${AIRGAP_BUILD:-$root/build}"
jobs="${TEST_JOBS:-2}"
logs="$build/test-logs"
[ "$#" -gt 0 ] || { echo "usage: $0 SUITE..." >&2; exit 2; }
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "TEST_JOBS must be a positive whole number, not '$jobs'" >&2; exit 2; }
rm -rf "$logs"
mkdir -p "$logs"
cd "$root" || exit 2

# run SUITE: the suite's make target, its output to its log; then its status, wall and CPU seconds
# (those of make and every process it waited for) to SUITE.result.
run() {
  local suite=$1 start rc cpu
  start=$(date +%s)
  make --no-print-directory "suite-$suite" >"$logs/$suite.log" 2>&1 </dev/null
  rc=$?
  # `times` (run here, not in a pipe's subshell), second line: the user and system time of this
  # subshell's children, as 1m2.345s each.
  times >"$logs/$suite.times"
  cpu=$(sed -n 2p "$logs/$suite.times" | awk '{ total = 0
    for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); total += t[1] * 60 + t[2] }
    printf "%d", total + 0.5 }')
  echo "$rc $(($(date +%s) - start)) $cpu" >"$logs/$suite.result"
}

declare -A running=() # pid -> suite
pending=("$@")
failed=()
stop() {
  for pid in "${!running[@]}"; do kill -- "-$pid" 2>/dev/null || kill "$pid" 2>/dev/null; done
  exit 130
}
trap stop INT TERM
# Each suite in a process group of its own, so that an interrupted run stops all it started.
set -m

report() { # report SUITE: its log, then its status line
  local suite=$1 rc wall cpu
  read -r rc wall cpu <"$logs/$suite.result" || { rc=1 wall="?" cpu="?"; }
  echo "==================== $suite: output ===================="
  cat "$logs/$suite.log"
  if [ "$rc" = 0 ]; then
    echo "==================== $suite: passed in ${wall} s (CPU ${cpu} s) ===================="
  else
    echo "==================== $suite: FAILED (exit $rc) in ${wall} s (CPU ${cpu} s) ===================="
    failed+=("$suite")
  fi
  printf '%-14s %-7s %6s s %6s s\n' "$suite" "$([ "$rc" = 0 ] && echo passed || echo FAILED)" "$wall" "$cpu" \
    >>"$logs/summary"
}

started=$(date +%s)
while [ "${#pending[@]}" -gt 0 ] || [ "${#running[@]}" -gt 0 ]; do
  while [ "${#pending[@]}" -gt 0 ] && [ "${#running[@]}" -lt "$jobs" ]; do
    suite=${pending[0]}
    pending=("${pending[@]:1}")
    run "$suite" &
    running[$!]=$suite
    echo "make test: started $suite ($(date -u +%T))"
  done
  wait -n -p done_pid "${!running[@]}"
  suite=${running[$done_pid]}
  unset "running[$done_pid]"
  report "$suite"
done

echo "==================== make test: $(($(date +%s) - started)) s, $jobs suites at a time ===================="
printf '%-14s %-7s %8s %8s\n' suite result wall CPU
cat "$logs/summary"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "make test: FAILED: ${failed[*]}"
  exit 1
fi
echo "make test: all checks passed"
