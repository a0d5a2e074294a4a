#!/usr/bin/env bash
# Proves a release binary runs on an older distribution: `gpudoctor --version` and
# `gpudoctor check --json` inside ROOT (a debootstrap'ed Debian 11, glibc 2.31), with
# qemu-user-static for another architecture. A machine without a GPU must answer exit 1, verdict
# "problem", root cause no_nvidia_gpu, as valid JSON.
#
#   scripts/release-check.sh dist/gpudoctor-VERSION-linux-ARCH ROOT
#
# Make ROOT with (as root):
#   debootstrap --variant=minbase bullseye ROOT http://deb.debian.org/debian             (x86_64)
#   debootstrap --foreign --arch=arm64 --variant=minbase bullseye ROOT http://deb.debian.org/debian
#                                         (aarch64: the unpacked libraries suffice for qemu-aarch64-static -L)
set -euo pipefail
bin=$1 root=$2
[ -f "$bin" ] && [ -d "$root" ] || { echo "usage: scripts/release-check.sh BINARY ROOT" >&2; exit 2; }
machine=$(readelf -h "$bin" | sed -n 's/^ *Machine: *//p')
dest=$root/usr/local/bin/gpudoctor
cp "$bin" "$dest"
case "$machine" in
  AArch64)
    qemu=$(command -v qemu-aarch64-static || command -v qemu-aarch64) ||
      { echo "needs qemu-user-static (Debian package)" >&2; exit 1; }
    run() { "$qemu" -L "$root" "$dest" "$@"; }
    glibc=$(ls "$root"/lib/aarch64-linux-gnu/libc-*.so 2>/dev/null | sed 's/.*libc-\(.*\)\.so/\1/') ;;
  *)
    run() { chroot "$root" /usr/local/bin/gpudoctor "$@"; }
    glibc=$(chroot "$root" /usr/bin/ldd --version | sed -n '1s/.* //p') ;;
esac
echo "glibc of $root: $glibc"
run --version
set +e
run check --json >"$root/tmp/check.json"
code=$?
set -e
python3 - "$root/tmp/check.json" "$code" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
code = int(sys.argv[2])
ids = [c["id"] for c in report["causes"]]
print(f"check --json: exit {code}, verdict {report['verdict']}, causes {ids}")
assert code == 1 and report["verdict"] == "problem" and ids[:1] == ["no_nvidia_gpu"], "not the answer of a machine without a GPU"
EOF
