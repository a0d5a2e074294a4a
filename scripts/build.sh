#!/usr/bin/env bash
# Builds gpudoctor into build/.
#   scripts/build.sh           the binary only (build/src/gpudoctor)
#   scripts/build.sh --tests   the binary, the tests, the fake driver libraries and the scenarios
# Extra CMake arguments come from GPUDOCTOR_CMAKE_ARGS. Both ways configure the same flags, so a
# test build after a binary build reuses its objects.
set -euo pipefail
cd "$(dirname "$0")/.."
tests=OFF
case "${1:-}" in
  --tests) tests=ON ;;
  "") ;;
  *) echo "usage: $0 [--tests]" >&2; exit 2 ;;
esac
if [ "$tests" = ON ]; then scripts/install-deps.sh --tests; else scripts/install-deps.sh; fi
# A folder configured with the tests keeps them (switching them off would only drop targets).
if [ "$tests" = OFF ] && [ -f build/CMakeCache.txt ] && grep -q '^GPUDOCTOR_BUILD_TESTS:BOOL=ON' build/CMakeCache.txt; then
  tests=ON
  target=(--target gpudoctor)
else
  target=()
fi
# RelWithDebInfo's -O2 without its -g: the debug information takes a third of the build's time on
# 2 cores (4.5 s against 6.8 s a file) and nobody who runs this script reads it; a developer who
# wants it passes GPUDOCTOR_CMAKE_ARGS=-DCMAKE_CXX_FLAGS_RELWITHDEBINFO='-O2 -g -DNDEBUG'.
# shellcheck disable=SC2086  # GPUDOCTOR_CMAKE_ARGS is a list of arguments
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPUDOCTOR_BUILD_TESTS="$tests" \
      -DCMAKE_CXX_FLAGS_RELWITHDEBINFO='-O2 -DNDEBUG' -DCMAKE_C_FLAGS_RELWITHDEBINFO='-O2 -DNDEBUG' \
      ${GPUDOCTOR_CMAKE_ARGS:-} >/dev/null
cmake --build build -j "$(nproc)" "${target[@]}"
