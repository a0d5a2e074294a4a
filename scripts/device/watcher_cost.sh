#!/usr/bin/env bash
# Issue 11's cost of watching at the default interval, after the poll spin fix, the lazily
# compiled catalogue regexes and malloc_trim before the sampler forks (bench/RESULTS.md): a
# PyTorch loop bare and under `gpudoctor run` (default --interval 100), interleaved, each
# SECONDS long (default 45); the loop reports its watcher's CPU during the loop (schedstat, exact)
# and its memory (RSS, PSS, private) at its end.
# Expects the stripped binary at $GPUDOCTOR (default .device/lead/gpudoctor).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh" watcher_cost
S=${SECONDS_EACH:-45}
section machine
date -u; nvidia-smi -L; nproc; "$B" --version
for round in 1 2; do
  section "round $round: bare"
  python3 "$P/train_torch.py" --seconds "$S" | tail -1
  section "round $round: under gpudoctor run (default interval)"
  "$B" run --json "/tmp/reports/cost$round.json" -- python3 "$P/train_torch.py" --seconds "$S" --report-parent 2>"/tmp/reports/cost$round.err" | tail -5
  grep -E "Verdict|GPU 0" "/tmp/reports/cost$round.err" | head -3
done
