#!/usr/bin/env bash
# Libraries layer on the GPU machine: gpudoctor's report, the predicted-vs-loaded comparison for
# torch and jax, and the time of `check` with the libraries layer. Output in $OUT/libraries.txt.
set -u
B=$PWD/.device/gpudoctor
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
exec > >(tee "$OUT/libraries.txt") 2>&1
echo "===== gpudoctor check"; "$B" check --no-color; echo "exit $?"
echo "===== predicted vs loaded"; python3 scripts/device/libraries_ground_truth.py "$B"
echo "===== timing"
python3 bench/time_commands.py --runs 20 --label "gpudoctor check --json" -- "$B" check --json \
  --- --runs 20 --label "gpudoctor check --json --driver none" -- "$B" check --json --driver none \
  --- --runs 10 --label "gpudoctor check --json --library-versions" -- "$B" check --json --library-versions
"$B" snapshot -o "$OUT/snapshot-libraries.json"
