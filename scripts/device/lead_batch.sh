#!/usr/bin/env bash
# One call on the lent GPU machine for three measurements (bench/RESULTS.md records what it showed):
#  1. copy: the probe's copy kernels at several shapes beside cudaMemcpyAsync and PyTorch
#     (copy_shapes.py), then `gpudoctor probe` itself twice, interleaved with torch_reference.py copy;
#  2. the watcher's cost: `gpudoctor run --interval 100/250/500` around a 30 s training loop, the
#     loop reading its watcher's CPU and memory at its end (train_torch.py --report-parent);
#  4. LD_LIBRARY_PATH at the CUDA toolkit's folder: each framework's predicted libraries against
#     what it mapped (libraries_ground_truth.py);
#  5. cudaMemcpyAsync under the probe's conditions (copy_conditions.py);
#  6. the CPU each NVML call of the watcher costs beside a training loop (nvml_call_cost.py).
#  7. README's samples: a venv holding torch without its nvidia-* wheels, and this healthy host.
# SECTIONS="1b 4" runs only those (1a 1b 2 3 4 5 6 7).
#  3. a computing tenant: the loop's steps/s bare and beside a process running products at 100%,
#     and what `gpudoctor check` says meanwhile.
# Expects the stripped binary at $GPUDOCTOR (default .device/lead/gpudoctor).
set -u
here=$(cd "$(dirname "$0")" && pwd)
B=${GPUDOCTOR:-$PWD/.device/lead/gpudoctor}
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1
exec > >(tee "$OUT/lead_batch.txt") 2>&1
section() { printf '\n===== %s\n' "$*"; }
want() { [ -z "${SECTIONS:-}" ] || [[ " $SECTIONS " == *" $1 "* ]]; }  # SECTIONS="1 4": only those
section machine
date -u; nvidia-smi -L; nvidia-smi --query-gpu=driver_version,clocks.max.mem,power.limit --format=csv,noheader

if want 1a; then
section "1a copy shapes (our PTX through CuPy, cudaMemcpyAsync, torch copy_)"
ptx=$here/ptx.cpp; [ -f "$ptx" ] || ptx=$here/../../src/probe/ptx.cpp
python3 "$here/copy_shapes.py" "$ptx" || echo "copy_shapes failed: $?"
fi
if want 1b; then
section "1b gpudoctor probe and torch_reference copy, interleaved"
for i in 1 2; do
  "$B" probe --json > "/tmp/probe$i.json"; echo "probe exit $?"
  python3 - "/tmp/probe$i.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
for g in j["probe"]["gpus"]:
    c = g.get("device_copy", {})
    print("gpudoctor device copy:", round(c.get("value", 0), 1), "GB/s |", c.get("what"))
for g in j["gpus"]:
    print("figures:", [(f["name"], f.get("measured"), f.get("expected"), f.get("state")) for f in g["figures"]][:4])
PY
  python3 "$here/torch_reference.py" --skip h2d,matmul,p2p,allreduce 2>&1 | grep -iE "GB/s|copy" | head -6
done
cp /tmp/probe1.json "$OUT/probe1.json"
TIMEFORMAT="probe --quick wall %R s"; time "$B" probe --quick --json > /tmp/probeq.json
python3 -c 'import json,sys; j=json.load(open("/tmp/probeq.json")); c=j["probe"]["gpus"][0]["device_copy"]; print("quick device copy:", round(c.get("value",0),1), "|", c.get("what"))'


fi
if want 2; then
section "2 watcher cost, 30 s loop"
python3 "$here/programs/train_torch.py" --seconds 30 | tail -2
for ms in 100 250 500; do
  echo "--- interval $ms"
  "$B" run --interval "$ms" --json "/tmp/run$ms.json" -- python3 "$here/programs/train_torch.py" --seconds 30 --report-parent 2>/tmp/run$ms.err | tail -4
  grep -E "^  GPU|busy|utilization" /tmp/run$ms.err | head -3
done
python3 "$here/programs/train_torch.py" --seconds 30 | tail -2

fi
if want 3; then
section "3 a tenant computing at 100% beside the loop"
python3 "$here/programs/train_torch.py" --seconds 15 | tail -1
python3 - <<'PY' &
import torch, time
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
print("tenant computing", flush=True)
t = time.time()
while time.time() - t < 60:
    for _ in range(20):
        b = a @ a
    torch.cuda.synchronize()
PY
tenant=$!
sleep 8
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
"$B" check --json > /tmp/check_busy.json; echo "check exit $?"
python3 -c 'import json; j=json.load(open("/tmp/check_busy.json")); print("verdict", j["verdict"]); [print(w["id"], "|", w["title"], "|", [e for e in w["evidence"]][-1]) for w in j["warnings"] + j["causes"] if w["id"] == "gpu_in_use_by_other_process"]'
python3 "$here/programs/train_torch.py" --seconds 15 | tail -1
kill $tenant 2>/dev/null; wait 2>/dev/null

fi
if want 4; then
section "4 LD_LIBRARY_PATH at the CUDA toolkit: predicted against /proc/self/maps (issue 13 item 5)"
ls -d /usr/local/cuda*/ 2>&1 | head; ls /usr/local/cuda/lib64 2>&1 | grep -E "nvJitLink|cusparse|cublas|cudart" | head
python3 - <<'PY'
import inspect, torch
print("torch", torch.__version__, torch.__file__)
for name in ("_load_global_deps", "_preload_cuda_deps", "_preload_cuda_lib", "_get_cuda_dep_paths"):
    f = getattr(torch, name, None)
    if f is not None:
        print(inspect.getsource(f))
PY
python3 - <<'PY'
import importlib, inspect, pkgutil
try:
    import jax_plugins
    for m in pkgutil.iter_modules(jax_plugins.__path__):
        mod = importlib.import_module("jax_plugins." + m.name)
        f = getattr(mod, "_load_nvidia_libraries", None)
        print("jax_plugins." + m.name, mod.__file__)
        if f:
            print(inspect.getsource(f))
except Exception as e:
    print("jax plugins:", e)
PY
tk=$(ls -d /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib 2>/dev/null | head -1)
if [ -n "$tk" ]; then
  LD_LIBRARY_PATH=$tk python3 "$here/libraries_ground_truth.py" "$B"
  LD_LIBRARY_PATH=$tk "$B" check --no-color | head -30
else
  echo "no CUDA toolkit folder here"
fi
fi
if want 5; then
section "5 the device copy under the probe's conditions (CuPy)"
python3 "$here/copy_conditions.py" || echo "copy_conditions failed: $?"
fi
if want 6; then
section "6 CPU per NVML call beside a training loop"
python3 "$here/programs/train_torch.py" --seconds 25 > /tmp/loop6.txt &
loop=$!
sleep 8
python3 "$here/nvml_call_cost.py" 200
wait $loop; tail -1 /tmp/loop6.txt
fi
if want 7; then
section "7 README's sample: a venv holding torch without its nvidia-* wheels, and the healthy host"
site=$(python3 -c 'import torch, os; print(os.path.dirname(os.path.dirname(torch.__file__)))')
rm -rf /tmp/bare; python3 -m venv --without-pip /tmp/bare
bare_site=$(/tmp/bare/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
# torch and its pure-Python requirements, not one nvidia-* wheel
for d in "$site"/torch "$site"/torch-*.dist-info "$site"/torchgen "$site"/functorch \
         "$site"/typing_extensions.py "$site"/typing_extensions-*.dist-info "$site"/sympy "$site"/sympy-*.dist-info \
         "$site"/mpmath "$site"/mpmath-*.dist-info "$site"/filelock "$site"/filelock-*.dist-info \
         "$site"/fsspec "$site"/fsspec-*.dist-info "$site"/jinja2 "$site"/jinja2-*.dist-info \
         "$site"/markupsafe "$site"/MarkupSafe-*.dist-info "$site"/networkx "$site"/networkx-*.dist-info; do
  [ -e "$d" ] && ln -s "$d" "$bare_site/"
done
/tmp/bare/bin/python -c 'import torch' 2>&1 | tail -1
"$B" check --python /tmp/bare/bin/python --no-color; echo "check exit $?"
"$B" check --no-color; echo "check exit $?"
fi
echo done
