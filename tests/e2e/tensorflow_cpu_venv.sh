#!/usr/bin/env bash
# End to end: a real tensorflow-cpu from PyPI in a fresh virtual environment; gpudoctor, reading
# only files, must call it a CPU-only build (and, on a machine without a GPU, say that too).
#   tests/e2e/tensorflow_cpu_venv.sh GPUDOCTOR WORK_DIR
# Exit 125 (CTest: skipped) when no venv can be made or PyPI cannot be reached.
set -uo pipefail
bin=${1:?usage: tensorflow_cpu_venv.sh GPUDOCTOR WORK_DIR}
work=${2:?usage: tensorflow_cpu_venv.sh GPUDOCTOR WORK_DIR}
version=${TF_CPU_VERSION:-2.18.0}
venv="$work/tf-cpu-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import importlib.metadata as m; assert m.version('tensorflow-cpu') == '$version'" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv" || { echo "cannot make a venv (python3-venv missing?): skipped"; exit 125; }
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "tensorflow-cpu==$version" \
    || { echo "pip could not install tensorflow-cpu==$version (no PyPI?): skipped"; exit 125; }
fi
json=$("$bin" check --json --python "$venv/bin/python" --framework tensorflow)
code=$?
printf '%s' "$json" | python3 -c '
import json, os, sys
d = json.load(sys.stdin)
ids = [c["id"] for c in d["causes"]]
print("verdict:", d["verdict"], "causes:", ids)
fw = [l for l in d["layers"] if l["layer"] == "framework"][0]
print("framework layer:", fw["status"], "-", fw["summary"])
assert d["verdict"] == "problem", "a CPU-only build is a problem"
assert "cpu_only_framework_build" in ids, "tensorflow-cpu must be named a CPU-only build"
gpu = os.path.exists("/dev/nvidiactl")
if not gpu:
    assert ids[0] == "no_nvidia_gpu", "without a GPU the root cause is the hardware layer"
cpu = [c for c in d["causes"] if c["id"] == "cpu_only_framework_build"][0]
assert "tensorflow-cpu" in cpu["title"], cpu["title"]
assert any("tensorflow[and-cuda]" in f for f in cpu["fix"]), cpu["fix"]
print("ok")
' || exit 1
[ "$code" = 1 ] || { echo "exit code $code, expected 1"; exit 1; }

# A real TensorFlow training run under `gpudoctor run`: its bytes and exit code pass through, and
# it is judged as not using the GPU, with the root cause of this host (no GPU on a CI runner).
cat > "$work/tf_train.py" <<'PY'
import numpy as np
import tensorflow as tf
x = np.random.rand(256, 8).astype("float32")
y = x.sum(axis=1, keepdims=True)
model = tf.keras.Sequential([tf.keras.Input((8,)), tf.keras.layers.Dense(16, activation="relu"), tf.keras.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(x, y, epochs=2, verbose=0)
print("trained on", tf.config.list_physical_devices())
raise SystemExit(7)
PY
report="$work/tf_run.json"
out=$("$bin" run --json "$report" -- "$venv/bin/python" "$work/tf_train.py" 2>"$work/tf_run.stderr")
code=$?
[ "$code" = 7 ] || { echo "gpudoctor run exit code $code, expected the program's 7"; cat "$work/tf_run.stderr"; exit 1; }
case "$out" in "trained on [PhysicalDevice(name='/physical_device:CPU:0', device_type='CPU')]") ;; *) echo "stdout changed: $out"; exit 1;; esac
python3 - "$report" <<'PY' || exit 1
import json, os, sys
d = json.load(open(sys.argv[1]))
p = d["program"]
ids = [c["id"] for c in d["causes"]]
print("run verdict:", d["verdict"], ids, "program:", p["verdict"], p["summary"])
assert p["exit_status"] == 7
assert p["verdict"] in ("not_used", "unknown"), p["verdict"]
assert not any(g["used"] for g in p["gpus"])
maps = [l["role"] for proc in p["watch"]["processes"] for l in proc["libraries"]]
assert "tensorflow" in maps, maps
if not os.path.exists("/dev/nvidiactl"):
    assert ids[0] == "no_nvidia_gpu", ids
print("run ok")
PY
