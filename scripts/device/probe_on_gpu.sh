#!/usr/bin/env bash
# Run on the lent GPU machine: `gpudoctor probe` (quick and full) beside PyTorch doing the same
# work (scripts/device/torch_reference.py), in one call, so both numbers come from the same
# card. Expects the stripped binary at .device/gpudoctor (scripts/device/prepare.sh). Writes to
# $OUT: report.txt (everything below), probe-quick.json, probe-full.json, torch.json. Also runs
# the hardware test tests/hw/probe_real_gpu.sh and shows the terminal progress display.
# The machine's policy keeps NVLink multicast off; the variables are set here too, in case.
set -u
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
B=$PWD/.device/gpudoctor
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
exec > >(tee "$OUT/report.txt") 2>&1
section() { printf '\n===== %s\n' "$*"; }
now() { date +%s.%N; }

TIMEFORMAT="wall %R s"
section machine
date -u; uname -r; nvidia-smi -L
nvidia-smi --query-gpu=index,name,pci.device_id,driver_version,pcie.link.gen.max,pcie.link.width.max,clocks.max.sm,power.limit,power.default_limit --format=csv
nvidia-smi topo -m 2>/dev/null | head -12

section "gpudoctor probe --quick"
time "$B" probe --quick --json > "$OUT/probe-quick.json"; rc=$?
echo "exit $rc"
section "gpudoctor probe --quick (terminal)"
"$B" probe --quick --no-color; echo "exit $?"

section "gpudoctor probe (full)"
time "$B" probe --json > "$OUT/probe-full.json"; rc=$?
echo "exit $rc"
python3 - "$OUT/probe-full.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
p = d.get("probe", {})
print("verdict", d.get("verdict"), "child", p.get("child"), "errors", p.get("errors"))
for lib in p.get("libraries", []):
    print("lib", lib.get("role"), lib.get("loaded"), lib.get("version"), "|", lib.get("chosen_because"))
def v(f):
    return f"{f['value']:.1f}" if isinstance(f, dict) and "value" in f and isinstance(f["value"], (int, float)) else str(f)
for g in p.get("gpus", []):
    print(f"GPU {g['ordinal']} {g['name']} kernel={g['kernel']}")
    print("  d2d", v(g["device_copy"]), g["device_copy"].get("what") if isinstance(g["device_copy"], dict) else "",
          "h2d", v(g["host_to_device"]), "d2h", v(g["device_to_host"]), "alloc", g["allocated_bytes"])
    for m in g["gemm"]:
        print("  gemm", m["precision"], v(m["rate"]), "err", m["relative_error"])
    print("  cudnn", g["cudnn"])
    print("  telemetry", g["telemetry"])
for pr in p.get("peers", []):
    print("peer", pr["from"], "->", pr["to"], pr["can_access"], v(pr["copy"]))
print("nccl", p.get("nccl_init"))
for a in p.get("all_reduce", []):
    print("all_reduce", a["bytes"] >> 20, "MiB", v(a["bus_bandwidth"]), a["correct"])
PY
section "gpudoctor probe (terminal)"
"$B" probe --no-color; echo "exit $?"

section "hardware test (tests/hw/probe_real_gpu.sh)"
tests/hw/probe_real_gpu.sh "$B"; echo "hw test exit $?"

section "progress display on a terminal (script(1) gives the probe a tty)"
command -v script >/dev/null && script -qec "$B probe --quick --no-color" /dev/null | tr '\r' '\n' | grep -a "^.*probe .*s  " | head -12

section "torch reference"
PYTHONUNBUFFERED=1 python3 scripts/device/torch_reference.py --json "$OUT/torch.json"; echo "exit $?"
