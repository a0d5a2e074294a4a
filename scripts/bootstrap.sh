#!/usr/bin/env bash
# One command on a fresh Debian/Ubuntu machine: install what is missing, build the binary, run
# `gpudoctor check`. Exits 0 when set-up worked, whatever the verdict (it prints what check's exit
# code was and what it means); 2 or 3 from check (bad input, gpudoctor's own failure) pass through.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
scripts/build.sh
echo "built build/src/gpudoctor in $(( $(date +%s) - start )) s"
set +e
build/src/gpudoctor check "$@"
rc=$?
set -e
case $rc in
  0) meaning="healthy: the GPU is usable" ;;
  1) meaning="a cause was found (above: the root cause and its fix)" ;;
  2) meaning="bad input (a wrong option or file)" ;;
  3) meaning="gpudoctor itself failed" ;;
  *) meaning="unexpected" ;;
esac
echo "set-up done. gpudoctor check exited $rc: $meaning"
if [ "$rc" -le 1 ]; then exit 0; fi
exit "$rc"
