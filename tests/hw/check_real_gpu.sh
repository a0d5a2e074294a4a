#!/usr/bin/env bash
# Hardware test: on a machine with a working NVIDIA GPU, `gpudoctor check` must say healthy with
# no false alarm, and must name cuda_visible_devices_hides_gpu when CUDA_VISIBLE_DEVICES=-1.
# Exits 125 (CTest: skipped) where there is no GPU.
#   tests/hw/check_real_gpu.sh path/to/gpudoctor
set -uo pipefail
bin=${1:?usage: check_real_gpu.sh GPUDOCTOR}
[ -e /dev/nvidiactl ] || { echo "no /dev/nvidiactl: no GPU here, skipped"; exit 125; }
fail=0
json=$(env -u CUDA_VISIBLE_DEVICES "$bin" check --json); code=$?
verdict=$(printf '%s' "$json" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["verdict"], " ".join(c["id"] for c in d["causes"]), len(d["warnings"]))')
echo "plain check: exit $code, verdict/causes/warnings: $verdict"
[ "$code" = 0 ] && [ "$verdict" = "healthy healthy 0" ] || { echo "FAIL: expected a healthy verdict with no warning"; fail=1; }
json=$(CUDA_VISIBLE_DEVICES=-1 "$bin" check --json); code=$?
verdict=$(printf '%s' "$json" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["verdict"], d["causes"][0]["id"])')
echo "CUDA_VISIBLE_DEVICES=-1: exit $code, verdict/root cause: $verdict"
[ "$code" = 1 ] && [ "$verdict" = "problem cuda_visible_devices_hides_gpu" ] || { echo "FAIL: expected cuda_visible_devices_hides_gpu"; fail=1; }
exit $fail
