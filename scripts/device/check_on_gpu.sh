#!/usr/bin/env bash
# Run on the lent GPU machine (see bench/RESULTS.md for what it showed). Expects the stripped
# binary at .device/gpudoctor (carried: scripts/device/prepare.sh makes it). Writes to $OUT:
#   report.txt      every output below, in order
#   snapshot.json   `gpudoctor snapshot` of the real host
#   capture.tgz     scripts/capture-host.sh of the real host (a fixture tree)
#   ld.so.cache     the host's loader cache (for the libraries layer)
#   readelf.txt.gz  NEEDED/RPATH/RUNPATH/SONAME of torch's, jax's and the nvidia wheels' libraries
set -u
B=$PWD/.device/gpudoctor
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
exec > >(tee "$OUT/report.txt") 2>&1
section() { printf '\n===== %s\n' "$*"; }

section machine
date -u; uname -r; nvidia-smi -L; nvidia-smi --query-gpu=driver_version,pcie.link.gen.max,pcie.link.width.max --format=csv
python3 -c 'import torch, jax; print("torch", torch.__version__, "jax", jax.__version__)' 2>/dev/null

section "gpudoctor check"
"$B" check --no-color; echo "exit $?"
section "gpudoctor check --json"
"$B" check --json; echo "exit $?"
section "gpudoctor check --markdown"
"$B" check --markdown; echo "exit $?"
section "CUDA_VISIBLE_DEVICES=-1 gpudoctor check"
CUDA_VISIBLE_DEVICES=-1 "$B" check --no-color; echo "exit $?"
section "hardware test"
tests/hw/check_real_gpu.sh "$B"; echo "hw test exit $?"

section "snapshot and check --from"
"$B" snapshot -o "$OUT/snapshot.json"; echo "snapshot exit $?"
"$B" check --from "$OUT/snapshot.json" --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print("from snapshot:", d["verdict"], [c["id"] for c in d["causes"]])'

section "CUDA_VISIBLE_DEVICES forms: gpudoctor's verdict against the real driver's device count"
uuid=$(nvidia-smi --query-gpu=uuid --format=csv,noheader | head -1)
prefix=${uuid:0:12}
cat > /tmp/cuda_count.py <<'PY'
import ctypes
cuda = ctypes.CDLL("libcuda.so.1")
rc = cuda.cuInit(0)
n = ctypes.c_int(-1)
if rc == 0:
    cuda.cuDeviceGetCount(ctypes.byref(n))
print(f"cuInit={rc} count={n.value}")
PY
printf '%-22s | %-18s | %-45s | %s\n' "CUDA_VISIBLE_DEVICES" "real cuInit/count" "gpudoctor verdict: causes / warnings" "exit"
for v in "" "-1" "0" "1" "0,0" "0,-1" "-1,0" "0,1" "$prefix" "GPU-bad" "GPU-" "MIG-xyz" "all" "0gpu" " 0"; do
  real=$(CUDA_VISIBLE_DEVICES="$v" python3 /tmp/cuda_count.py 2>&1 | tail -1)
  verdict=$(CUDA_VISIBLE_DEVICES="$v" "$B" check --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["verdict"], [c["id"] for c in d["causes"]], [w["id"] for w in d["warnings"]])')
  printf '%-22s | %-18s | %-45s\n' "\"$v\"" "$real" "$verdict"
done

section "timing (bench/time_commands.py)"
python3 bench/time_commands.py --runs 20 --label "gpudoctor check --json" -- "$B" check --json \
  --- --runs 20 --label "gpudoctor check --driver none" -- "$B" check --json --driver none \
  --- --runs 10 --label "nvidia-smi -q" -- nvidia-smi -q \
  --- --runs 3 --label "python -m torch.utils.collect_env" -- python3 -m torch.utils.collect_env

section "capture of the host tree"
scripts/capture-host.sh /tmp/capture >/dev/null && tar czf "$OUT/capture.tgz" -C /tmp capture && echo "capture.tgz written"
cp /etc/ld.so.cache "$OUT/ld.so.cache" 2>/dev/null && echo "ld.so.cache copied"
SP=$(python3 -c 'import site; print(site.getsitepackages()[0])')
{
  for f in "$SP"/torch/lib/*.so* "$SP"/jaxlib/*.so "$SP"/jaxlib/*/*.so "$SP"/jax_plugins/*/*.so* "$SP"/nvidia/*/lib/*.so* \
           /usr/lib/x86_64-linux-gnu/libcudnn*.so* /usr/local/cuda/lib64/libcudart.so* /usr/local/cuda/lib64/libcublas.so*; do
    [ -f "$f" ] || continue
    echo "### $f -> $(readlink -f "$f")"
    readelf -d "$f" 2>/dev/null | grep -E 'NEEDED|RPATH|RUNPATH|SONAME'
  done
} | gzip > "$OUT/readelf.txt.gz"; echo "readelf.txt.gz written"
