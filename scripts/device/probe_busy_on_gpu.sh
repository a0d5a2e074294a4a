#!/usr/bin/env bash
# Run on a lent machine with 2+ GPUs: `gpudoctor probe` while another process (PyTorch) holds
# 40 GiB of GPU 0 and keeps it busy with bf16 products, the one degraded state that can be staged
# without touching the card's settings (METHOD.md: never change clocks or power limits). Expected:
# GPU 0 named as used by another process (memory held, figures shared), GPU 1 healthy. Also prints
# the quick probe's timeline from its progress display (script(1) gives it a terminal).
# Writes to $OUT: report.txt, busy-quick.json, busy-full.json, idle-quick.json.
set -u
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
B=$PWD/.device/gpudoctor
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
exec > >(tee "$OUT/report.txt") 2>&1
section() { printf '\n===== %s\n' "$*"; }
TIMEFORMAT="wall %R s"

section machine
date -u; nvidia-smi -L

section "idle: probe --quick timeline (progress display)"
time (script -qec "$B probe --quick --no-color" /dev/null | tr '\r' '\n' | grep -a "probe .*s  ")
"$B" probe --quick --json > "$OUT/idle-quick.json"; echo "exit $?"

section "busy: a PyTorch process holds 40 GiB of GPU 0 and runs bf16 products on it"
rm -f /tmp/busy.ready
PYTHONUNBUFFERED=1 python3 - <<'PY' &
import os, time, torch
torch.cuda.set_device(0)
hold = torch.empty(40 * 2**30, dtype=torch.uint8, device="cuda")
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
b = torch.randn_like(a)
open("/tmp/busy.ready", "w").write(str(os.getpid()))
start = time.time()
while time.time() - start < 150:
    c = a @ b
    torch.cuda.synchronize()
PY
busy=$!
for _ in $(seq 60); do [ -e /tmp/busy.ready ] && break; sleep 1; done
nvidia-smi --query-compute-apps=pid,used_memory --format=csv
nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv

section "busy: gpudoctor probe --quick"
time "$B" probe --quick --json > "$OUT/busy-quick.json"; echo "exit $?"
"$B" probe --quick --no-color | sed -n '/^GPU 0/,$p'; echo "exit $?"

section "busy: gpudoctor probe (full)"
time "$B" probe --json > "$OUT/busy-full.json"; echo "exit $?"
python3 - "$OUT/busy-full.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("verdict", d["verdict"])
for c in d["causes"] + d["warnings"]:
    print(c["severity"], c["id"], "|", c["title"])
for g in d.get("gpus", []):
    print("GPU", g["ordinal"], g["state"], "|", g["summary"])
    for f in g["figures"]:
        print("   ", f["name"], f["measured"], f["expected"], f["state"])
print("other processes", [g["other_processes"] for g in d["probe"]["gpus"]])
PY
kill "$busy" 2>/dev/null; wait "$busy" 2>/dev/null
