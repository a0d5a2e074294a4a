#!/usr/bin/env bash
# Builds dist/gpudoctor_VERSION_ARCH.deb with CPack from a build of the binary (BUILD_DIR, default
# build-deb/ with the binary alone; BUILD_DIR=build reuses scripts/build.sh's, stripped when packed),
# linked against this machine's Debian packages (Depends: computed by dpkg-shlibdeps): bin/gpudoctor,
# the man page and the bash, zsh and fish completions. Build it on the oldest release it must
# install on (Debian 12 suits Debian 12 and Ubuntu 24.04).
set -euo pipefail
cd "$(dirname "$0")/.."
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
b=${BUILD_DIR:-build-deb}
if [ "$b" = build-deb ]; then
  cmake -S . -B "$b" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGPUDOCTOR_BUILD_TESTS=OFF "${launcher[@]}" >/dev/null
fi
cmake --build "$b" -j "${JOBS:-2}" --target gpudoctor gpudoctor_docs >"$b/deb-build.log" 2>&1 ||
  { grep -m5 -A8 error "$b/deb-build.log" >&2; exit 1; }
mkdir -p dist && dist=$PWD/dist
(cd "$b" && cpack -G DEB -B "$dist" >cpack.log 2>&1) || { tail -20 "$b/cpack.log" >&2; exit 1; }
rm -rf dist/_CPack_Packages
ls -l dist/gpudoctor_*.deb
