#!/usr/bin/env bash
# `gpudoctor run` and `inspect` on real programs on the lent GPU machine (issue 11); results in
# bench/RESULTS.md. Expects the stripped binary at $GPUDOCTOR_BIN (default .device/run/gpudoctor:
# `strip -o .device/run/gpudoctor build/src/gpudoctor`, carried with the call). Writes to $OUT: programs.txt (everything
# below, in order) and reports.tgz (every JSON report).
set -u
B=${GPUDOCTOR_BIN:-$PWD/.device/run/gpudoctor}
P=$PWD/scripts/device/programs
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT" /tmp/reports
exec > >(tee "$OUT/programs.txt") 2>&1
export PYTHONUNBUFFERED=1
section() { printf '\n===== %s\n' "$*"; }
# One watched run: the program's own last lines, gpudoctor's exit code, and the verdict from its JSON.
watched() {
  local name=$1; shift
  section "$name: gpudoctor run $*"
  "$B" run --json "/tmp/reports/$name.json" "$@" 2>/tmp/reports/$name.stderr | tail -3
  echo "exit ${PIPESTATUS[0]}"
  grep -E '^(gpudoctor:|  Verdict|  GPU |  CPU|  note)' /tmp/reports/$name.stderr | head -12
  python3 - "/tmp/reports/$name.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
p = j["program"]
print("verdict:", j["verdict"], "causes:", [c["id"] for c in j["causes"]], "warnings:", [w["id"] for w in j["warnings"]])
print("program:", p["verdict"], "|", p["summary"], "| per_process:", p["per_process"], "| pids:", p["pids"][:6])
for c in j["causes"][:1]:
    print("root cause evidence:", [(e["source"], e["fact"][:100]) for e in c["evidence"][:3]])
libs = p["libraries"]
print("libraries:", len(libs), "as predicted:", sum(l["state"] == "as predicted" for l in libs),
      "another file:", [(l["role"], l["loaded"], l["predicted"]) for l in libs if l["state"] == "another file"][:4],
      "not predicted:", [l["role"] for l in libs if l["state"] == "not predicted"][:8])
procs = p["watch"]["processes"]
print("processes:", [(x["pid"], x["nspids"], x["command"][:40], len(x["libraries"]), x["device_files"][:3]) for x in procs[:4]])
PY
}

section machine
date -u; uname -r; nvidia-smi -L
nvidia-smi --query-compute-apps=pid,used_memory --format=csv
grep NSpid /proc/self/status; cat /proc/1/cmdline | tr '\0' ' '; echo

watched torch_gpu -- python3 "$P/train_torch.py" --seconds 11
watched torch_cvd_minus1 -- env CUDA_VISIBLE_DEVICES=-1 python3 "$P/train_torch.py" --seconds 11
watched torch_model_on_cpu -- python3 "$P/train_torch.py" --device cpu --seconds 11
watched torch_slow_loader -- python3 "$P/train_torch.py" --slow-loader --seconds 11
watched jax_gpu -- python3 "$P/jax_program.py" 11
watched jax_platforms_cpu -- env JAX_PLATFORMS=cpu python3 "$P/jax_program.py" 11

section "a second process holding 100 GiB of GPU 0 during the run"
python3 "$P/hold_memory.py" 100 25 & holder=$!
sleep 6
watched torch_beside_holder -- python3 "$P/train_torch.py" --seconds 11
kill $holder; wait $holder 2>/dev/null

section "inspect a running training for 5 s"
python3 "$P/train_torch.py" --seconds 12 > /tmp/reports/inspected.log 2>&1 & t=$!
sleep 6
"$B" inspect "$t" --json > /tmp/reports/inspect.json; echo "inspect exit $?"
python3 -c 'import json; j=json.load(open("/tmp/reports/inspect.json")); p=j["program"]; print(j["verdict"], [c["id"] for c in j["causes"]], p["verdict"], p["summary"], p["per_process"])'
wait $t

section "overhead: the same training loop bare and under gpudoctor run, interleaved"
for i in 1 2; do
  printf 'bare    %s ' "$i"; python3 "$P/train_torch.py" --seconds 10 | grep steps_per_s
  printf 'watched %s ' "$i"; "$B" run -- python3 "$P/train_torch.py" --seconds 10 --report-parent 2>/dev/null | grep -E 'steps_per_s|watcher'
done

tar czf "$OUT/reports.tgz" -C /tmp reports && echo "reports.tgz written"
