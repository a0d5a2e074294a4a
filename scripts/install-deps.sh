#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages gpudoctor builds and tests with; does nothing when they are there.
set -euo pipefail
packages=(cmake ninja-build g++ pkg-config libcli11-dev nlohmann-json3-dev libfmt-dev libre2-dev
          libtomlplusplus-dev libelf-dev libgtest-dev libgmock-dev
          prometheus prometheus-node-exporter curl   # tests of check --prometheus
          slurmctld slurmd slurm-client munge)       # the real Slurm test of fleet and health
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
