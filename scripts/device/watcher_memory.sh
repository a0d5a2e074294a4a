#!/usr/bin/env bash
# Second call for issue 11's watcher memory (bench/RESULTS.md): where the NVML sampler's 13 MiB
# of anonymous memory comes from (nvml_memory.py, step by step, with glibc's malloc arenas as they
# are and with MALLOC_ARENA_MAX=1), the watcher's memory under `gpudoctor run` with
# MALLOC_ARENA_MAX=1 and as the binary sets it, and the PID-namespace case once more with the
# rule that names it.
# Expects the stripped binary at $GPUDOCTOR (default .device/lead/gpudoctor).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh" watcher_memory
section machine
date -u; nvidia-smi -L; nproc

section "1 NVML step by step"
python3 "$here/nvml_memory.py" 20
MALLOC_ARENA_MAX=1 python3 "$here/nvml_memory.py" 20

section "2 the watcher's memory, --interval 100, 15 s loop"
for arena in default 1; do
  echo "--- MALLOC_ARENA_MAX=$arena"
  if [ "$arena" = default ]; then
    "$B" run --interval 100 -- python3 "$P/train_torch.py" --seconds 15 --report-parent 2>/dev/null | tail -5
  else
    MALLOC_ARENA_MAX=$arena "$B" run --interval 100 -- python3 "$P/train_torch.py" --seconds 15 --report-parent 2>/dev/null | tail -5
  fi
done

section "3 the loop in a PID namespace without its own /proc"
"$B" run --json /tmp/reports/ns.json -- unshare --pid --fork python3 "$P/train_torch.py" --seconds 4 2>/tmp/reports/ns.err | tail -1
grep -E '^(Verdict|  [A-Z])' /tmp/reports/ns.err | head -8
python3 -c 'import json; j=json.load(open("/tmp/reports/ns.json")); print("causes:", [(c["id"], c["layer"], c["title"][:120]) for c in j["causes"]]); print("fix:", j["causes"][0]["fix"])'
