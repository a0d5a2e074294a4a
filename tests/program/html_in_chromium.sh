#!/usr/bin/env bash
# CTest program.html_in_chromium: `gpudoctor run --html` on a program that uses GPU 0 at 85%, then
# at 20% while a child spins on the CPU, leaves GPU 1 alone and logs a library error half-way; the page is rendered by a real
# headless Chromium (Debian's chromium package, scripts/install-deps.sh --tests) and the screenshot
# is read back pixel by pixel (html_screenshot_check.py): three plots, GPU 0's line high then low,
# GPU 1's flat at the bottom, the log's mark half-way across, the CPU line drawn.
#   tests/program/html_in_chromium.sh GPUDOCTOR FAKES_DIR HOST_DIR
# Skipped (125), saying why, without Chromium.
set -euo pipefail
bin=$1 fakes=$2 host=$3
here=$(cd "$(dirname "$0")" && pwd)
chromium=${GPUDOCTOR_CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
if [ -z "$chromium" ]; then
  echo "skipped: Chromium is not installed (Debian: apt-get install chromium)"
  exit 125
fi
if ! version=$("$chromium" --version 2>&1); then
  echo "skipped: $chromium does not run (Ubuntu's package is a stub for a snap): ${version:0:200}"
  exit 125
fi
echo "$version"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The recorded 2 x H200 host's driver answers, each GPU with a live context list of its own.
python3 - "$host/driver.json" "$work" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
for i, d in enumerate(j["nvml"]["devices"]):
    d["processes"] = []
    d["contexts_file"] = f"{sys.argv[2]}/contexts{i}"
    open(d["contexts_file"], "w").close()
json.dump(j, open(f"{sys.argv[2]}/driver.json", "w"))
PY
log="2022-04-28 03:54:33.745939: W tensorflow/stream_executor/platform/default/dso_loader.cc:64] Could not load dynamic library 'libcudart.so.11.0'; dlerror: libcudart.so.11.0: cannot open shared object file: No such file or directory"
# 85% for 1.6 s, the log line, then 20% while a child spins on the CPU for 1.4 s.
program="echo \"\$\$ 3221225472 85\" > '$work/contexts0'; sleep 1.6; echo \"$log\" >&2; echo \"\$\$ 3221225472 20\" > '$work/contexts0'; timeout 1.4 sh -c 'while :; do :; done'; sleep 0.2"
set +e
LD_LIBRARY_PATH=$fakes GPUDOCTOR_FAKE_DRIVER=$work/driver.json \
  "$bin" --root "$host/root" --driver host run --html "$work/page.html" -- sh -c "$program" 2>"$work/stderr"
rc=$?
set -e
if [ "$rc" != 0 ]; then
  echo "gpudoctor run exited $rc"; cat "$work/stderr"; exit 1
fi
"$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --disable-extensions \
  --host-resolver-rules="MAP * ~NOTFOUND" --user-data-dir="$work/profile" --window-size=1000,1800 \
  --screenshot="$work/page.png" "file://$work/page.html" >"$work/chromium.log" 2>&1 || { tail -20 "$work/chromium.log"; exit 1; }
[ -s "$work/page.png" ] || { echo "Chromium wrote no screenshot"; tail -20 "$work/chromium.log"; exit 1; }
if [ -n "${GPUDOCTOR_KEEP_SCREENSHOT:-}" ]; then cp "$work/page.png" "$GPUDOCTOR_KEEP_SCREENSHOT"; fi
python3 "$here/html_screenshot_check.py" "$work/page.png"
