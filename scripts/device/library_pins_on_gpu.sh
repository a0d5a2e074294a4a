#!/usr/bin/env bash
# Library versions against the wheels' pins on the GPU machine (issue 13 item 4): a second
# environment like the image's, torch copied and every other package linked, but without the
# nvidia-nccl wheel (as `pip install --no-deps` leaves it), so libnccl.so.2 resolves through
# ld.so.cache to the system's NCCL. gpudoctor's verdict (cuda_version_mismatch when that NCCL is
# older than torch's METADATA pin) against what a real torch process does: whether `import torch`
# and an NCCL call work, and which libnccl /proc/self/maps shows. Output in $OUT/library_pins.txt.
# Run after scripts/device/prepare.sh (the binary in .device/).
set -u
B=$PWD/.device/gpudoctor
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
exec > >(tee "$OUT/library_pins.txt") 2>&1
SP=$(python3 -c 'import site; print(site.getsitepackages()[0])')
echo "===== torch's pins and the system's NCCL"
grep -h "^Requires-Dist: nvidia-nccl" "$SP"/torch-*.dist-info/METADATA
ls -la /usr/lib/x86_64-linux-gnu/libnccl.so* 2>/dev/null
ldconfig -p | grep libnccl

echo "===== a venv without nvidia-nccl"
rm -rf /tmp/nonccl && /usr/bin/python3 -m venv /tmp/nonccl
NSP=$(/tmp/nonccl/bin/python -c 'import site; print(site.getsitepackages()[0])')
# torch is copied (through a link its $ORIGIN/../../nvidia RPATH would reach the original wheels);
# nvidia/ is a folder of links to every library folder but nccl; the nccl wheel's dist-info is left out.
for e in "$SP"/*; do
  n=$(basename "$e")
  case "$n" in
    nvidia_nccl*) continue ;;
    nvidia) mkdir -p "$NSP/nvidia"
            for d in "$e"/*; do [ "$(basename "$d")" = nccl ] || ln -s "$d" "$NSP/nvidia/$(basename "$d")"; done ;;
    torch|torch-*) cp -a "$e" "$NSP/$n" ;;
    *) ln -s "$e" "$NSP/$n" 2>/dev/null ;;
  esac
done
"$B" check --no-color --python /tmp/nonccl/bin/python | sed -n '1,40p'
"$B" check --json --python /tmp/nonccl/bin/python --library-versions | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("verdict:", d["verdict"], [c["id"] for c in d["causes"]], "warnings:", [w["id"] for w in d["warnings"]])
for c in d["causes"]:
    if c["id"] in ("cuda_version_mismatch", "nccl_missing"):
        print(c["title"])
        for e in c["evidence"]: print("  ", e["source"], ":", e["fact"])'
echo "----- truth: import torch and an NCCL call in it"
/tmp/nonccl/bin/python - <<'PY' 2>&1 | tail -8
import re
try:
    import torch
    print("import ok; cuda available:", torch.cuda.is_available(), "nccl version:", torch.cuda.nccl.version())
    maps = open("/proc/self/maps").read()
    print("\n".join(sorted({m.group(0) for m in re.finditer(r"/\S+/libnccl[^/\s]*", maps)})))
except Exception as e:
    print("import failed:", type(e).__name__, e)
PY
echo "----- the image's own environment (the pin met): no finding expected"
"$B" check --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print("verdict:", d["verdict"], [c["id"] for c in d["causes"]])'
