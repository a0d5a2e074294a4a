#!/usr/bin/env bash
# explain on the GPU machine (issue 5): real torch and jax programs are run in the ways users break
# them (GPU hidden by CUDA_VISIBLE_DEVICES, an invalid ordinal, out of memory, missing CUDA wheels)
# and in the way that works; their real output goes through `gpudoctor explain` (the text alone),
# and the verdict is compared with what is known to be the cause. Texts and results in $OUT.
set -u
B=$PWD/.device/gpudoctor
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT/explain"
exec > >(tee "$OUT/explain.txt") 2>&1
pass=0; fail=0
# case NAME EXPECTED ENV... -- COMMAND...: EXPECTED is a cause id, or a|b for either.
case_() {
  local name=$1 expected=$2; shift 2
  local envs=()
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done; shift
  env "${envs[@]}" timeout 300 "$@" > "$OUT/explain/$name.txt" 2>&1
  local got
  got=$("$B" explain "$OUT/explain/$name.txt" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d["verdict"], ",".join(c["id"] for c in d["causes"]))')
  local first=${got#* }; first=${first%%,*}
  if [[ "|$expected|" == *"|$first|"* ]]; then ok=PASS; pass=$((pass+1)); else ok=FAIL; fail=$((fail+1)); fi
  printf '%-28s expected %-40s got %s  %s\n' "$name" "$expected" "$got" "$ok"
}
PY=python3
case_ torch_healthy "healthy|other" -- $PY -c 'import torch; x=torch.ones(4096,4096,device="cuda"); print(torch.cuda.get_device_name(0), float((x@x).sum()))'
case_ torch_cvd_minus1 cuda_visible_devices_hides_gpu CUDA_VISIBLE_DEVICES=-1 -- $PY -c 'import torch; print(torch.cuda.is_available()); torch.zeros(1).cuda()'
case_ torch_cvd_0_0 cuda_visible_devices_hides_gpu CUDA_VISIBLE_DEVICES=0,0 -- $PY -c 'import torch; torch.zeros(1).cuda()'
case_ torch_cvd_empty cuda_visible_devices_hides_gpu CUDA_VISIBLE_DEVICES= -- $PY -c 'import torch; torch.zeros(1).cuda()'
case_ torch_oom gpu_memory_exhausted -- $PY -c 'import torch; torch.empty(400*2**30, dtype=torch.uint8, device="cuda")'
case_ torch_device_assert "other" -- $PY -c 'import torch; t=torch.zeros(4,device="cuda"); i=torch.tensor([10],device="cuda"); print(t[i]); torch.cuda.synchronize()'
case_ jax_healthy "healthy|other" -- $PY -c 'import jax, jax.numpy as jnp; print(jax.devices()); print(float(jnp.ones((4096,4096)).sum()))'
case_ jax_cvd_minus1 cuda_visible_devices_hides_gpu CUDA_VISIBLE_DEVICES=-1 -- $PY -c 'import jax; print(jax.devices("gpu"))'
case_ jax_oom gpu_memory_exhausted -- $PY -c 'import jax.numpy as jnp; x=jnp.ones((100*2**30,), dtype=jnp.float32); print(x.sum())'
case_ nvidia_smi "healthy|framework_info_harmless|other" -- nvidia-smi
# A venv without the nvidia-* wheels: torch's own ImportError.
rm -rf /tmp/bare && /usr/bin/python3 -m venv /tmp/bare
SP=$($PY -c 'import site; print(site.getsitepackages()[0])')
BSP=$(/tmp/bare/bin/python -c 'import site; print(site.getsitepackages()[0])')
for e in "$SP"/*; do
  n=$(basename "$e")
  case "$n" in nvidia|nvidia_*|cuda_toolkit*|jax*) continue;; esac
  case "$n" in torch|torch-*) cp -a "$e" "$BSP/$n";; *) ln -s "$e" "$BSP/$n" 2>/dev/null;; esac
done
case_ torch_without_cuda_wheels "cuda_math_library_missing|cuda_runtime_missing|cudnn_missing|nccl_missing" -- /tmp/bare/bin/python -c 'import torch'
echo "explain on real GPU output: $pass passed, $fail failed"
for f in "$OUT"/explain/*.txt; do echo "----- $(basename "$f")"; tail -4 "$f" | cut -c1-300; done
