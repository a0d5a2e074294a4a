#!/usr/bin/env bash
# Builds gpudoctor here and puts a stripped copy in .device/ (ignored by git) for `run`'s carry.
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/build.sh >/dev/null
mkdir -p .device
strip -o .device/gpudoctor build/src/gpudoctor
ls -la .device/gpudoctor
