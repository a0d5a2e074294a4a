#!/usr/bin/env bash
# Run on the lent GPU machine (bench/RESULTS.md records what it showed). Expects the binary at
# $GPUDOCTOR (default .device/gpudoctor). Measures what `gpudoctor check` says of a GPU that another
# process holds and computes on, how much memory a framework needs to start, and JAX_PLATFORMS=cpu.
set -u
B=${GPUDOCTOR:-$PWD/.device/gpudoctor}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1
exec > >(tee "$OUT/check_busy_gpu.txt") 2>&1
section() { printf '\n===== %s\n' "$*"; }
apps() { nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader; nvidia-smi --query-gpu=memory.used,memory.free,utilization.gpu --format=csv,noheader; }

section machine
date -u; nvidia-smi -L; python3 -c 'import torch, jax; print("torch", torch.__version__, "jax", jax.__version__)'

section "memory a framework needs to start (own process, NVML per-process figure)"
python3 - <<'PY'
import subprocess, os, torch
torch.zeros(1, device="cuda")
def used():
    out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"], capture_output=True, text=True).stdout
    return {int(l.split(",")[0]): int(l.split(",")[1]) for l in out.splitlines() if l.strip()}.get(os.getpid())
print("torch context only: MiB", used())
a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16); (a @ a).sum().item()
print("torch + cuBLAS bf16 product 4096^2: MiB", used())
c = torch.nn.Conv2d(64, 64, 3).cuda(); c(torch.randn(8, 64, 56, 56, device="cuda")).sum().item()
print("torch + cuDNN convolution: MiB", used())
PY
for pre in false true; do
XLA_PYTHON_CLIENT_PREALLOCATE=$pre python3 - <<PY
import subprocess, os, jax, jax.numpy as jnp
x = jnp.ones((4096, 4096), dtype=jnp.bfloat16); (x @ x).block_until_ready()
out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"], capture_output=True, text=True).stdout
print("jax (XLA_PYTHON_CLIENT_PREALLOCATE=$pre) after a 4096^2 product: MiB", {int(l.split(",")[0]): int(l.split(",")[1]) for l in out.splitlines() if l.strip()}.get(os.getpid()), jax.devices())
PY
done

hold() {  # hold $1 GiB and compute until killed
  python3 - "$1" <<'PY' &
import sys, time, torch
held = torch.empty(int(float(sys.argv[1]) * (1 << 30)), dtype=torch.uint8, device="cuda")
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
print("holder ready", flush=True)
while True:
    for _ in range(20): a = (a @ a).clamp_(-1, 1)
    torch.cuda.synchronize()
PY
  HOLDER=$!
  for i in $(seq 1 60); do nvidia-smi --query-compute-apps=pid --format=csv,noheader | grep -q . && break; sleep 1; done
  sleep 3
}

section "another process holds 112 GiB and computes"
hold 112; apps
"$B" check --no-color; echo "exit $?"
"$B" check --json > "$OUT/check_busy_112.json"; echo "json exit $?"
python3 -c 'import torch; a=torch.randn(4096,4096,device="cuda"); print("torch starts beside it:", (a@a).sum().item() is not None)' 2>&1 | tail -2
python3 -c 'import jax.numpy as jnp; x=jnp.ones((4096,4096)); print("jax (default preallocation) starts beside it:", float((x@x).sum()))' 2>&1 | tail -3
kill $HOLDER; wait $HOLDER 2>/dev/null

section "another process holds all but about 1 GiB"
FREE=$(nvidia-smi --query-gpu=memory.free --format=csv,noheader,nounits | head -1)
hold "$(python3 -c "print(($FREE - 1400) / 1024)")"; apps
"$B" check --no-color; echo "exit $?"
python3 -c 'import torch; a=torch.randn(4096,4096,device="cuda",dtype=torch.bfloat16); print("torch starts beside it:", (a@a).sum().item())' 2>&1 | tail -2
python3 -c 'import jax.numpy as jnp; x=jnp.ones((4096,4096)); print("jax starts beside it:", float((x@x).sum()))' 2>&1 | tail -2
kill $HOLDER; wait $HOLDER 2>/dev/null

section "JAX_PLATFORMS=cpu"
JAX_PLATFORMS=cpu python3 -c 'import jax; print("jax devices:", jax.devices())'
JAX_PLATFORMS=cpu "$B" check --no-color; echo "exit $?"
JAX_PLATFORMS=cuda,cpu "$B" check --no-color | head -3; echo "exit ${PIPESTATUS[0]}"
JAX_PLATFORM_NAME=cpu python3 -c 'import jax; print("default backend:", jax.default_backend())'
