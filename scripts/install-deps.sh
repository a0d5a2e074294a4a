#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages gpudoctor needs; does nothing when they are all there.
#   scripts/install-deps.sh           what building the binary needs
#   scripts/install-deps.sh --tests   and what the tests need (GoogleTest, Python venvs, Prometheus, Slurm, clang)
set -euo pipefail
packages=(cmake ninja-build g++ pkg-config libcli11-dev nlohmann-json3-dev libfmt-dev libre2-dev
          libtomlplusplus-dev libelf-dev)
if [ "${1:-}" = "--tests" ]; then
  packages+=(libgtest-dev libgmock-dev clang lld                # clang and lld write the AArch64 ELF fixtures
             python3 python3-venv python3-pip            # the e2e test makes a venv and installs TensorFlow
             prometheus prometheus-node-exporter curl     # check --prometheus: promtool and a real scrape
             slurmctld slurmd slurm-client munge          # the real Slurm test of fleet and health
             libclang-rt-dev                              # fuzz.smoke: libFuzzer targets (with clang), ASan, UBSan
             clang-format clang-tidy)                     # lint.clang_format, lint.clang_tidy (.clang-format, .clang-tidy)
  # program.html_in_chromium renders run --html's page in headless Chromium. Debian's package is
  # the browser itself; Ubuntu's "chromium" is a stub for a snap, which containers cannot run.
  if [ -r /etc/os-release ] && [ "$(. /etc/os-release && echo "${ID:-}")" = debian ]; then packages+=(chromium); fi
elif [ -n "${1:-}" ]; then
  echo "usage: $0 [--tests]" >&2
  exit 2
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "error: apt-get not found; install these packages (or their equivalents) by hand: ${missing[*]}" >&2
  exit 1
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if ! command -v sudo >/dev/null; then
    echo "error: these packages are missing and installing them needs root (no sudo here):" >&2
    echo "  apt-get install ${missing[*]}" >&2
    exit 1
  fi
  SUDO=(sudo)
fi
echo "installing: ${missing[*]}"
"${SUDO[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
