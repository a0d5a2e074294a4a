#!/usr/bin/env python3
"""The libraries layer against /proc/self/maps on a machine without a GPU. Importing torch, and
importing jax and asking for its devices (the CUDA plugin's __init__ preloads its libraries, then
jax falls back to the CPU), maps the CUDA libraries each framework loads. A folder standing for a
CUDA toolkit (copies of some of the wheels' own files, so that which copy got mapped shows in the
path) goes on LD_LIBRARY_PATH; `gpudoctor snapshot` predicts, under the same LD_LIBRARY_PATH, the
file of every library, and a second copy where the framework loads one by path (also_mapped).
Prints, per framework, every CUDA library the process mapped against the prediction.

    scripts/libraries_maps_check.py --gpudoctor build/src/gpudoctor --python .venv-x/bin/python \\
        --toolkit /tmp/tk libcublasLt.so.13 libnvJitLink.so.13 libcusparse.so.12

With no library names the toolkit folder is used as it is; `--no-toolkit` runs with
LD_LIBRARY_PATH unset (the near case: nothing may differ).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

CUDA_LIB = re.compile(r"/(lib(cudart|cublas|cublasLt|cufft|curand|cusolver|cusparse|cusparseLt|cudnn[a-z_]*|nccl|nvrtc|"
                      r"nvrtc-builtins|nvJitLink|cupti|cufile|nvshmem_host)\.so[.0-9]*)$")

WORK = {
    "torch": "import torch\nprint(open('/proc/self/maps').read())\n",
    "jax": "import jax\njax.devices()\nprint(open('/proc/self/maps').read())\n",
}


def key(name):
    """libcublasLt.so.13.1.0.3 -> libcublasLt.so.13 (stem and first version number)."""
    m = re.match(r"(lib[^.]+\.so)(\.\d+)?", name)
    return m.group(1) + (m.group(2) or "") if m else name


def mapped(python, framework, env):
    out = subprocess.run([python, "-c", WORK[framework]], capture_output=True, text=True, timeout=600, env=env)
    paths = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[5].startswith("/") and CUDA_LIB.search(parts[5]):
            paths.setdefault(key(os.path.basename(parts[5])), set()).add(os.path.realpath(parts[5]))
    if not paths:
        sys.stderr.write(out.stderr[-3000:])
    return paths


def wheel_file(site_packages, name):
    for root, _, files in os.walk(os.path.join(site_packages, "nvidia")):
        if name in files:
            return os.path.join(root, name)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gpudoctor", default="build/src/gpudoctor")
    ap.add_argument("--python", required=True)
    ap.add_argument("--toolkit", default="/tmp/gpudoctor-toolkit")
    ap.add_argument("--no-toolkit", action="store_true")
    ap.add_argument("libraries", nargs="*", help="wheel files to copy into the toolkit folder")
    a = ap.parse_args()
    python = os.path.abspath(a.python)
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    env = dict(os.environ)
    env.pop("LD_LIBRARY_PATH", None)
    if not a.no_toolkit:
        os.makedirs(a.toolkit, exist_ok=True)
        for name in a.libraries:
            src = wheel_file(site, name)
            if src is None:
                sys.exit(f"{name}: not in {site}/nvidia")
            shutil.copyfile(src, os.path.join(a.toolkit, name))
        env["LD_LIBRARY_PATH"] = a.toolkit
    print(f"LD_LIBRARY_PATH={env.get('LD_LIBRARY_PATH', '(unset)')}; toolkit folder: "
          f"{', '.join(sorted(os.listdir(a.toolkit))) if not a.no_toolkit else '-'}")
    snap = json.loads(subprocess.run([a.gpudoctor, "snapshot", "--python", python], capture_output=True, text=True,
                                     check=True, env=env).stdout)
    total = exact = 0
    for fw in snap.get("frameworks", []):
        name = fw["framework"]
        if name not in WORK or os.path.realpath(fw["site_packages"]) != os.path.realpath(site):
            continue
        predicted = {}
        for lib in fw["libraries"]:
            if isinstance(lib.get("path"), str):
                files = predicted.setdefault(key(lib["name"]), set())
                files.add(os.path.realpath(lib["path"]))
                for c in lib.get("also_mapped", []):
                    files.add(os.path.realpath(c["resolved"]))
        real = mapped(python, name, env)
        print(f"\n## {name} {fw.get('version')} (CUDA {fw.get('cuda_build')})")
        print("| library | predicted | mapped | same |\n|---|---|---|---|")
        for k in sorted(real):
            pred = predicted.get(k, set())
            same = pred == real[k]
            total += 1
            exact += same
            short = lambda files: "<br>".join(sorted(f.replace(site, "…") for f in files)) or "(not predicted)"
            print(f"| {k} | {short(pred)} | {short(real[k])} | {'yes' if same else 'NO'} |")
        extra = sorted(k for k in predicted if k not in real)
        print(f"predicted, not mapped by this import: {', '.join(extra) or 'none'}")
    print(f"\nexact: {exact} of {total} libraries the frameworks mapped")
    check = subprocess.run([a.gpudoctor, "check", "--json", "--python", python], capture_output=True, text=True, env=env)
    report = json.loads(check.stdout)
    print(f"gpudoctor check: exit {check.returncode}, verdict {report.get('verdict')}, causes "
          f"{[c.get('id') for c in report.get('causes', [])]}")
    for c in report.get("causes", []) + report.get("warnings", []):
        if c.get("layer") == "libraries":
            print(f"  {c.get('id')}: {c.get('title')}")


if __name__ == "__main__":
    main()
