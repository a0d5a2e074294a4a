#!/usr/bin/env bash
# One call on the lent GPU machine for issue 11's last measurements (bench/RESULTS.md records what
# it showed):
#  A. the watcher's memory, honestly counted: RSS, PSS and private memory of gpudoctor and its NVML
#     sampler child at the end of a 20 s training loop (train_torch.py --report-parent), with the
#     largest mappings of each; --interval 100 and 250;
#  B. the CPU of each NVML call the sampler makes (nvml_call_cost.py, its process-utilization buffer
#     now large enough);
#  C. PID namespaces: gpudoctor inside a new PID namespace with its own /proc (a container's view:
#     NVML's PIDs are the host's), and gpudoctor outside watching a program started in one (NSpid);
#  D. which environment `run` judges when the command is the venv's python3, and an HTML page of a
#     real run (rendered afterwards in Chromium on the CPU machine).
# Expects the stripped binary at $GPUDOCTOR (default .device/lead/gpudoctor).
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh" watcher_namespaces
summary() {  # the program part of a run's JSON report
  python3 - "$1" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
p = j["program"]
print("verdict:", j["verdict"], "causes:", [c["id"] for c in j["causes"]], "warnings:", [w["id"] for w in j["warnings"]])
print("program:", p["verdict"], "|", p["summary"], "| per_process:", p["per_process"], "| pids:", p["pids"][:6])
print("notes:", p.get("notes", [])[:6])
print("processes:", [(x["pid"], x["nspids"], x["command"][:40], x["device_files"][:2]) for x in p["watch"]["processes"][:4]])
print("gpus:", [(g["index"], g["used"], g["pids"], g["other_pids"][:4], g["peak_memory_bytes"], g["mean_utilization_percent"], g["busy_share"]) for g in p["gpus"]])
print("environments in use:", [(e["prefix"], e["found_by"]) for e in j["environments"] if e["in_use"]])
PY
}
section machine
date -u; uname -r; id -u; nvidia-smi -L; command -v unshare python3; grep NSpid /proc/self/status

section "A watcher memory and CPU, 20 s loop"
python3 "$P/train_torch.py" --seconds 20 | tail -1
for ms in 100 250; do
  echo "--- interval $ms"
  "$B" run --interval "$ms" --json "/tmp/reports/mem$ms.json" -- python3 "$P/train_torch.py" --seconds 20 --report-parent \
    2>/tmp/reports/mem$ms.err | tail -5
done
python3 "$P/train_torch.py" --seconds 20 | tail -1

section "B CPU per NVML call beside a training loop"
python3 "$P/train_torch.py" --seconds 25 >/dev/null & t=$!
sleep 8
python3 "$here/nvml_call_cost.py" 200
wait $t

section "C1 gpudoctor inside a new PID namespace with its own /proc"
unshare --pid --fork --mount-proc sh -c "grep NSpid /proc/self/status; \"$B\" run --json /tmp/reports/ns_inside.json -- python3 \"$P/train_torch.py\" --seconds 8 2>/tmp/reports/ns_inside.err & sleep 5; nvidia-smi --query-compute-apps=pid,used_memory --format=csv; wait" | tail -6
echo "--- stderr:"; grep -E '^(gpudoctor:|  Verdict|  GPU|  note|  per-process)' /tmp/reports/ns_inside.err | head -10
summary /tmp/reports/ns_inside.json

section "C2 gpudoctor outside, the program in a new PID namespace (host /proc: NSpid has both PIDs)"
"$B" run --json /tmp/reports/ns_outside.json -- unshare --pid --fork python3 "$P/train_torch.py" --seconds 8 2>/tmp/reports/ns_outside.err | tail -2
summary /tmp/reports/ns_outside.json

section "C3 the same with its own /proc in the namespace"
"$B" run --json /tmp/reports/ns_outside_proc.json -- unshare --pid --fork --mount-proc python3 "$P/train_torch.py" --seconds 8 2>/dev/null | tail -1
summary /tmp/reports/ns_outside_proc.json

section "D the environment judged, and an HTML page of a real run"
py=$(command -v python3); echo "python3 on PATH: $py -> $(readlink -f "$py")"
"$B" run --json /tmp/reports/html.json --html "$OUT/run.html" -- python3 "$P/train_torch.py" --seconds 12 2>/dev/null | tail -1
summary /tmp/reports/html.json
cp /tmp/reports/html.json "$OUT/run.json"
tar czf "$OUT/reports.tgz" -C /tmp reports && echo "reports.tgz written"
