#!/usr/bin/env python3
"""Ground truth for the libraries layer (run on the GPU machine). Before any framework starts,
`gpudoctor snapshot` predicts which file each CUDA library of torch and jax resolves to; then a
real torch process and a real jax process do GPU work and read the libraries they really mapped
(/proc/self/maps). Prints, library by library, predicted against loaded.

    scripts/device/libraries_ground_truth.py .device/gpudoctor
"""
import json
import os
import re
import subprocess
import sys

GPUDOCTOR = sys.argv[1] if len(sys.argv) > 1 else ".device/gpudoctor"
PYTHON = sys.argv[2] if len(sys.argv) > 2 else sys.executable  # the environment to compare
CUDA_LIB = re.compile(r"/(lib(cudart|cublas|cublasLt|cufft|curand|cusolver|cusparse|cusparseLt|cudnn[a-z_]*|nccl|nvrtc|nvrtc-builtins|nvJitLink|cupti|cufile|nvshmem_host|cuda|nvidia-ml)\.so[.0-9]*)$")

WORK = {
    "torch": """
import torch
x = torch.randn(512, 512, device='cuda')
y = (x @ x).sum()
c = torch.nn.functional.conv2d(torch.randn(1, 3, 32, 32, device='cuda'), torch.randn(8, 3, 3, 3, device='cuda'))
q = torch.linalg.qr(torch.randn(64, 64, device='cuda'))
torch.cuda.synchronize()
print(open('/proc/self/maps').read())
""",
    "jax": """
import jax, jax.numpy as jnp
x = jnp.ones((512, 512))
y = (x @ x).block_until_ready()
c = jax.lax.conv(jnp.ones((1, 3, 32, 32)), jnp.ones((8, 3, 3, 3)), (1, 1), 'SAME').block_until_ready()
f = jnp.fft.fft(jnp.ones(1024)).block_until_ready()
print(open('/proc/self/maps').read())
""",
}


def loaded(framework):
    out = subprocess.run([PYTHON, "-c", WORK[framework]], capture_output=True, text=True, timeout=300)
    paths = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[5].startswith("/"):
            m = CUDA_LIB.search(parts[5])
            if m:
                # Keyed by SONAME: two files of one SONAME (a by-path load after a NEEDED found
                # another copy) are both kept.
                paths.setdefault(soname_key(os.path.basename(parts[5])), set()).add(os.path.realpath(parts[5]))
    if not paths:
        print(out.stderr[-2000:])
    return paths


def soname_key(name):
    # libcudnn.so.9.19.0 -> libcudnn.so.9 style keys are compared by stem + first version number.
    m = re.match(r"(lib[^.]+\.so)(\.\d+)?", name)
    return m.group(1) + (m.group(2) or "") if m else name


def main():
    snap = json.loads(subprocess.run([GPUDOCTOR, "snapshot", "--library-versions", "--python", PYTHON],
                                     capture_output=True, text=True, check=True).stdout)
    prefix = subprocess.run([PYTHON, "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True).stdout.strip()
    total = exact = 0
    for fw in snap.get("frameworks", []):
        name = fw["framework"]
        if name not in WORK or not fw["site_packages"].startswith(prefix + "/"):
            continue
        predicted = {}
        for lib in fw["libraries"]:
            p = lib["path"]
            if isinstance(p, str):
                files = {os.path.realpath(p)} | {os.path.realpath(c["resolved"]) for c in lib.get("also_mapped", [])}
                predicted[soname_key(lib["name"])] = files
        real = loaded(name)
        print(f"\n## {name} {fw.get('version')} (CUDA {fw.get('cuda_build')}) in {fw['site_packages']}")
        print(f"| library | predicted | loaded | same |")
        print(f"|---|---|---|---|")
        for key, paths in sorted(real.items()):
            if key.startswith("libcuda.so") or key.startswith("libnvidia-ml"):
                continue  # the driver: loaded by the probe, not part of the framework's resolution
            pred = predicted.get(key)
            same = pred == paths
            total += 1
            exact += same
            print(f"| {key} | {'<br>'.join(sorted(pred)) if pred else '(not predicted)'} | {'<br>'.join(sorted(paths))} | "
                  f"{'yes' if same else 'NO'} |")
        extra = sorted(k for k in predicted if k not in real)
        print(f"predicted but not loaded by this workload: {', '.join(extra) or 'none'}")
    print(f"\nexact: {exact} of {total} libraries the frameworks really loaded")
    # The versions the libraries themselves reported, against the version gpudoctor read from files.
    print("\n| library | version from files | the library says |\n|---|---|---|")
    seen = set()
    for fw in snap.get("frameworks", []):
        for lib in fw["libraries"]:
            rv = lib.get("reported_version")
            if isinstance(rv, str) and lib["path"] not in seen:
                seen.add(lib["path"])
                print(f"| {lib['name']} | {lib.get('version')} | {rv} |")


if __name__ == "__main__":
    main()
