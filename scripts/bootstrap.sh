#!/usr/bin/env bash
# One command on a fresh Debian/Ubuntu machine: install what is missing, build, run `gpudoctor check`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
exec build/src/gpudoctor check "$@"
