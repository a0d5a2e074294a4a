#!/usr/bin/env bash
# Configures and builds gpudoctor (and its tests) into build/.
set -euo pipefail
cd "$(dirname "$0")/.."
"$(dirname "$0")/install-deps.sh"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${GPUDOCTOR_CMAKE_ARGS:-} >/dev/null
cmake --build build -j "$(nproc)"
