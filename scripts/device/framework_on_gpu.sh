#!/usr/bin/env bash
# Framework layer on the GPU machine (issue 4): gpudoctor reads the real torch and jax of the
# image's environment; then a second environment without the nvidia-* wheels is made (the same
# packages linked in, the nvidia ones left out) and judged; a real torch process in it shows what
# really happens. Output in $OUT/framework.txt.
set -u
B=$PWD/.device/gpudoctor
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
exec > >(tee "$OUT/framework.txt") 2>&1
SP=$(python3 -c 'import site; print(site.getsitepackages()[0])')
echo "===== the image's environment: gpudoctor check"
"$B" check --no-color | sed -n '1,12p'
"$B" check --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("verdict:", d["verdict"], [c["id"] for c in d["causes"]], "warnings:", [w["id"] for w in d["warnings"]])'
"$B" snapshot | python3 -c '
import json, sys
d = json.load(sys.stdin)
for f in d["framework_installs"]:
    print(f["framework"], f["distribution"], f["version"], "build", f["build"], "cuda", f["cuda_build"], f["cuda_version"], "in use", f["environment_in_use"], f["environment"])'
python3 -c 'import torch, jax; print("truth: torch", torch.__version__, torch.version.cuda, torch.cuda.is_available(), "| jax", jax.__version__, jax.default_backend())'

echo "===== a venv without the nvidia wheels"
rm -rf /tmp/bare && /usr/bin/python3 -m venv /tmp/bare
BSP=$(/tmp/bare/bin/python -c 'import site; print(site.getsitepackages()[0])')
# torch is copied (a link to the folder would make its $ORIGIN/../../nvidia RPATH reach the
# original environment's wheels again: the kernel resolves '..' after following the link); the other
# packages are linked; the nvidia wheels and jax are left out.
for e in "$SP"/*; do
  n=$(basename "$e")
  case "$n" in nvidia|nvidia_*|jax*|jaxlib*|jax_plugins|cuda_toolkit*|cuda-toolkit*) continue;; esac
  case "$n" in torch|torch-*) cp -a "$e" "$BSP/$n";; *) ln -s "$e" "$BSP/$n" 2>/dev/null;; esac
done
"$B" check --no-color --python /tmp/bare/bin/python | sed -n '1,60p'
echo "exit $?"
echo "----- predicted against loaded, library by library"
python3 scripts/device/libraries_ground_truth.py "$B" /tmp/bare/bin/python
echo "----- truth: import torch in it"
/tmp/bare/bin/python - <<'PY' 2>&1 | tail -5
import re
try:
    import torch
    print("import ok; cuda available:", torch.cuda.is_available())
    x = torch.ones(8, device="cuda"); torch.cuda.synchronize()
    maps = open("/proc/self/maps").read()
    libs = sorted({m.group(0) for m in re.finditer(r"/\S+/lib(cudart|cublas|cudnn|nccl|cusparseLt|cufile|nvshmem_host|cupti|cufft|curand|cusparse|nvJitLink)[^/\s]*\.so[.0-9]*", maps)})
    print("\n".join(libs))
except Exception as e:
    print("import failed:", type(e).__name__, e)
PY
