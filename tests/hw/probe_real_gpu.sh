#!/usr/bin/env bash
# Hardware test: on a machine with working NVIDIA GPUs, `gpudoctor probe` must run every step on
# every visible GPU, compute right, and call a healthy machine healthy; `probe --quick` must too;
# hiding all but the last GPU with CUDA_VISIBLE_DEVICES must probe exactly that one.
# Exits 125 (CTest: skipped) where there is no GPU.
#   tests/hw/probe_real_gpu.sh path/to/gpudoctor
set -uo pipefail
bin=${1:?usage: probe_real_gpu.sh GPUDOCTOR}
[ -e /dev/nvidiactl ] || { echo "no /dev/nvidiactl: no GPU here, skipped"; exit 125; }
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ')
fail=0
check() {  # check NAME EXPECTED_GPUS MODE JSON
  printf '%s' "$4" | python3 -c '
import json, sys
name, want, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
d = json.load(sys.stdin)
p = d["probe"]
bad = []
if d["verdict"] != "healthy": bad.append("verdict %s: %s" % (d["verdict"], [c["title"] for c in d["causes"]]))
if p["child"]["status"] != "ok": bad.append("child %s" % p["child"])
if len(p["gpus"]) != want: bad.append("%d GPUs probed, %d visible" % (len(p["gpus"]), want))
for g in d.get("gpus", []):
    if g["state"] != "healthy": bad.append("GPU %d %s: %s" % (g["ordinal"], g["state"], g["summary"]))
    for f in g["figures"]:
        skip = mode == "quick" and f["name"] in ("allocation of most free memory", "cuDNN convolution")
        if not skip and f["state"] != "ok": bad.append("GPU %d %s: %s" % (g["ordinal"], f["name"], f["state"]))
if mode == "full" and want >= 2:
    if len(p["peers"]) != want * (want - 1): bad.append("peers %d" % len(p["peers"]))
    if not p["all_reduce"] or not all(a.get("correct") is True for a in p["all_reduce"]): bad.append("all-reduce %s" % p["all_reduce"])
print(name, "ok" if not bad else "FAIL: " + "; ".join(bad))
sys.exit(1 if bad else 0)
' "$1" "$2" "$3" || fail=1
}
check "probe" "$gpus" full "$("$bin" probe --json)"
check "probe --quick" "$gpus" quick "$("$bin" probe --quick --json)"
last=$((gpus - 1))
check "CUDA_VISIBLE_DEVICES=$last probe --quick" 1 quick "$(CUDA_VISIBLE_DEVICES=$last "$bin" probe --quick --json)"
exit $fail
