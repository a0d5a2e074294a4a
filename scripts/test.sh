#!/usr/bin/env bash
# Builds and runs every test: unit, scenario (fake driver libraries) and CLI tests.
set -euo pipefail
cd "$(dirname "$0")/.."
GPUDOCTOR_CMAKE_ARGS="-DGPUDOCTOR_WERROR=ON ${GPUDOCTOR_CMAKE_ARGS:-}" scripts/build.sh
cd build
ctest --output-on-failure -j "$(nproc)" "$@"
