#!/usr/bin/env bash
# Builds and runs every test: unit, scenario (fake driver libraries), CLI, explain-case, probe and
# e2e tests; then lists every test that was skipped, with its reason. Arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh --tests
cd build
set +e
ctest --output-on-failure -j "$(nproc)" --output-junit ctest-results.xml "$@"
rc=$?
set -e
python3 ../scripts/ctest-skips.py ctest-results.xml || true
exit $rc
