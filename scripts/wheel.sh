#!/usr/bin/env bash
# Builds the wheel: dist/gpudoctor-VERSION-py3-none-manylinux_2_28_ARCH.whl, with scikit-build-core
# (pyproject.toml), from the release binary of scripts/release.sh (built first when missing), and
# checks with auditwheel that the manylinux_2_28 tag is true.
#
#   scripts/wheel.sh [x86_64|aarch64]
#   scripts/wheel.sh --binary FILE --plat linux_x86_64 --outdir DIR
#       (any other gpudoctor binary, e.g. build/src/gpudoctor, under the plain linux tag: the
#        layout test of tests/packaging/wheel_test.sh; such a wheel is for this machine only)
#
# The build tools (scikit-build-core, build, auditwheel) come from PyPI into build-release/venv
# (PYTHON=... names another interpreter that has them).
set -euo pipefail
cd "$(dirname "$0")/.."
arch=x86_64 binary="" plat="" outdir=dist
while [ $# -gt 0 ]; do
  case "$1" in
    x86_64 | aarch64) arch=$1 ;;
    --binary) binary=$2; shift ;;
    --plat) plat=$2; shift ;;
    --outdir) outdir=$2; shift ;;
    *) echo "usage: scripts/wheel.sh [x86_64|aarch64] | --binary FILE --plat TAG --outdir DIR" >&2; exit 2 ;;
  esac
  shift
done
version=$(sed -n 's/^project(gpudoctor VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
if [ -z "$binary" ]; then
  binary=dist/gpudoctor-$version-linux-$arch
  [ -f "$binary" ] || scripts/release.sh "$arch"
  plat=${plat:-manylinux_2_28_$arch}
fi
plat=${plat:-linux_$arch}
binary=$(realpath "$binary")
python=${PYTHON:-}
if [ -z "$python" ]; then
  venv=build-release/venv
  if ! "$venv/bin/python" -c 'import scikit_build_core, build, auditwheel' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "scikit-build-core>=0.10" build auditwheel
  fi
  python=$venv/bin/python
fi
mkdir -p "$outdir"
# The platform tag the binary earns; scikit-build-core takes it from _PYTHON_HOST_PLATFORM.
_PYTHON_HOST_PLATFORM=$plat "$python" -m build --wheel --no-isolation --outdir "$outdir" \
  -Ccmake.define.GPUDOCTOR_WHEEL_BINARY="$binary" >"$outdir/.wheel-build.log" 2>&1 ||
  { tail -30 "$outdir/.wheel-build.log" >&2; exit 1; }
rm -f "$outdir/.wheel-build.log"
wheel=$outdir/gpudoctor-$version-py3-none-$plat.whl
[ -f "$wheel" ] || { echo "no $wheel was made" >&2; exit 1; }
case "$plat" in
  manylinux*)
    # auditwheel must accept the claimed tag: the policy it finds the wheel consistent with
    # (the oldest glibc its symbols allow) may not be newer than the one claimed.
    show=$("$python" -m auditwheel show "$wheel" | tr -s ' \n' ' ')
    found=$(echo "$show" | grep -o 'consistent with the following platform tag: "[^"]*"' | grep -o 'manylinux_[0-9_a-z]*' || true)
    claimed_glibc=$(echo "$plat" | sed -n 's/^manylinux_2_\([0-9]*\)_.*/\1/p')
    found_glibc=$(echo "$found" | sed -n 's/^manylinux_2_\([0-9]*\)_.*/\1/p')
    if [ -z "$found_glibc" ] || [ "$found_glibc" -gt "$claimed_glibc" ] || [ "${found##*_2_[0-9]*_}" != "${plat##*_2_[0-9]*_}" ]; then
      echo "auditwheel show: $show" >&2
      echo "auditwheel does not accept $plat for $wheel (consistent with: ${found:-none})" >&2; exit 1
    fi
    echo "auditwheel show: consistent with $found, so the claimed $plat holds" ;;
esac
echo "$wheel: $(stat -c %s "$wheel") bytes"
