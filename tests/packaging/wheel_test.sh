#!/usr/bin/env bash
# The wheel's layout, end to end: scripts/wheel.sh packs GPUDOCTOR (the build's own binary, under
# the plain linux tag: the release binary of scripts/release.sh, which earns manylinux_2_28, takes
# zig and ~8 minutes on 2 cores, too long for every test run), pip installs the wheel into a fresh
# venv, and the venv's `gpudoctor` and `python -m gpudoctor` must be that binary, judging that venv.
#   tests/packaging/wheel_test.sh GPUDOCTOR WORK_DIR
# Exit 125 (CTest: skipped) when no venv can be made or PyPI cannot be reached for scikit-build-core.
set -uo pipefail
bin=${1:?usage: wheel_test.sh GPUDOCTOR WORK_DIR}
work=${2:?usage: wheel_test.sh GPUDOCTOR WORK_DIR}
repo=$(cd "$(dirname "$0")/../.." && pwd)
tools=$work/wheel-tools
mkdir -p "$work"
if ! "$tools/bin/python" -c 'import scikit_build_core, build' 2>/dev/null; then
  rm -rf "$tools"
  python3 -m venv "$tools" || { echo "SKIPPED: cannot make a venv (python3-venv missing?)"; exit 125; }
  "$tools/bin/pip" install -q --disable-pip-version-check "scikit-build-core>=0.10" build ||
    { echo "SKIPPED: pip could not install scikit-build-core and build (no PyPI?)"; exit 125; }
fi
plat=linux_$(uname -m)
rm -rf "$work/wheel-out" "$work/wheel-venv"
PYTHON=$tools/bin/python "$repo/scripts/wheel.sh" --binary "$bin" --plat "$plat" --outdir "$work/wheel-out" || exit 1
whl=$(ls "$work"/wheel-out/gpudoctor-*-py3-none-"$plat".whl) || { echo "no wheel named py3-none-$plat"; exit 1; }
echo "wheel: $whl"
# The listing is read whole first: `grep -q` stops at its first match, and under pipefail the
# writer's broken pipe would fail the test however right the wheel is.
listing=$(python3 -m zipfile -l "$whl") || { echo "cannot list the wheel"; exit 1; }
grep -q 'gpudoctor-[0-9.]*\.data/scripts/gpudoctor' <<<"$listing" || { echo "the executable is not in the wheel's scripts"; exit 1; }
python3 -m venv "$work/wheel-venv" || exit 1
venv=$work/wheel-venv
"$venv/bin/pip" install -q --no-index --disable-pip-version-check "$whl" || { echo "pip install of the wheel failed"; exit 1; }
[ -x "$venv/bin/gpudoctor" ] || { echo "the wheel put no gpudoctor on the venv's PATH"; exit 1; }
want=$("$bin" --version)
got=$("$venv/bin/gpudoctor" --version) || { echo "venv gpudoctor --version failed"; exit 1; }
[ "$got" = "$want" ] || { echo "venv gpudoctor --version: '$got', expected '$want'"; exit 1; }
echo "gpudoctor --version: $got"
got=$("$venv/bin/python" -m gpudoctor --version) || { echo "python -m gpudoctor --version failed"; exit 1; }
[ "$got" = "$want" ] || { echo "python -m gpudoctor --version: '$got', expected '$want'"; exit 1; }
json=$("$venv/bin/python" -m gpudoctor check --json)
code=$?
printf '%s' "$json" | python3 -c '
import json, sys
d = json.load(sys.stdin)
code = int(sys.argv[1])
print("python -m gpudoctor check --json: exit", code, "verdict", d["verdict"], [c["id"] for c in d["causes"]][:3])
assert (d["verdict"], code) in (("healthy", 0), ("problem", 1)), "exit code and verdict disagree"
' "$code" || exit 1
# No --python and no active venv: the venv the wheel is installed in is judged first.
env -i PATH=/usr/bin:/bin "$venv/bin/gpudoctor" snapshot --driver none --no-redact | python3 -c '
import json, os, sys
envs = json.load(sys.stdin)["python_envs"]
venv = sys.argv[1]
print("first environment:", envs[0]["prefix"], "-", envs[0]["found_by"])
assert os.path.realpath(envs[0]["prefix"]) == os.path.realpath(venv) and envs[0]["in_use"], "the wheel venv is not judged first"
' "$venv" || exit 1
echo ok
