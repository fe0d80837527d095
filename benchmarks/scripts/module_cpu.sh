#!/usr/bin/env bash
# Copyright: Contributors to the airgap.ecr collection
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
#
# The Python interpreter of the fleet row's hosts (ansible_python_interpreter): runs each module with the
# benchmark's Python (AIRGAP_BENCH_PYTHON) and appends "<user s> <system s> <AnsiballZ file>" to
# AIRGAP_BENCH_MODULE_CPU, so that the row can tell the CPU of the module runs (a real fleet's hosts' CPU)
# from the controller's. The module's stdin, stdout, stderr and exit status are its own.
TIMEFORMAT="%U %S ${1##*/}"
exec 3>>"$AIRGAP_BENCH_MODULE_CPU"
{ time "$AIRGAP_BENCH_PYTHON" "$@" 2>&4; } 4>&2 2>&3
