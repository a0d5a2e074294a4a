#!/usr/bin/env bash
# A real Slurm from Debian's packages: munged, slurmctld and three slurmd (n1, n2, n3 on this
# machine, each on its own port: Debian builds Slurm with several slurmd per host) started with a
# configuration written here. Then:
#   1. `gpudoctor fleet --nodes n[1-3] --json`: three hosts named by their labels (the binary
#      copied by srun --bcast and each copy removed), and again with --bcast no;
#   2. a node whose Prolog hangs: `fleet --timeout 15` lists it as not answering, the others answer;
#   3. `gpudoctor health --drain` as HealthCheckProgram: a faked fault on n2 (the AWS g5 image
#      without its driver) drains n2 with Reason "gpudoctor: driver_not_installed", the fit nodes
#      (the captured H200 host on the fake driver) stay up;
#   4. fleet again: the drained node is listed as not answering, with its Slurm state and reason;
#   5. a node whose slurmd is gone: its launch fails, named with srun's message.
# Usage: slurm_fleet.sh GPUDOCTOR FAKES_DIR TESTS_DIR. Exit 125 (skipped, saying why) without
# Slurm's packages, without root, or when slurmctld cannot start here.
set -euo pipefail
gpudoctor=$(realpath "$1") fakes=$(realpath "$2") tests=$(realpath "$3")
skip() {
  echo "SKIPPED: $*" >&2
  echo "SKIPPED: $*"
  exit 125
}
export PATH=$PATH:/usr/sbin:/sbin  # the daemons live in sbin, not on every user's PATH
for tool in slurmctld slurmd munged srun sinfo scontrol python3; do
  command -v "$tool" >/dev/null ||
    skip "$tool is not installed (apt-get install slurmctld slurmd slurm-client munge): the real Slurm test did not run"
done
[ "$(id -u)" -eq 0 ] || skip "needs root (slurmd starts jobs as their user; this cluster's SlurmUser is root): the real Slurm test did not run"

work=$(mktemp -d /tmp/gpudoctor-slurm-XXXXXX)
chmod 755 "$work"
export SLURM_CONF=$work/slurm.conf
cleanup() {
  rm -f "$work"/hang.* "$work"/fault.*
  local pids=()
  for f in "$work"/slurmd-*.pid "$work"/slurmctld.pid "$work"/munge/munged.pid; do
    [ -s "$f" ] && pids+=("$(cat "$f")")
  done
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  # The daemons write their state as they stop: their folder goes once they are gone (at most 10 s).
  for _ in $(seq 100); do
    alive=""
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ -z "$alive" ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAILED: $*" >&2
  for log in "$work"/log/*.log; do echo "== $log" >&2; tail -15 "$log" >&2; done
  exit 1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

mkdir -p "$work/munge" "$work/log" "$work/state" "$work/spool" "$work/bcast"
chmod 700 "$work/munge"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 600 "$work/munge/munge.key"
chmod 711 "$work/munge"
munged --socket="$work/munge/socket" --key-file="$work/munge/munge.key" --log-file="$work/log/munged.log" \
  --pid-file="$work/munge/munged.pid" --seed-file="$work/munge/seed" ||
  skip "munged cannot start here: $(tail -3 "$work/log/munged.log" 2>/dev/null | tr '\n' ' ')"

# The fault and the hang are faked by marker files the scripts look for, per node.
cat >"$work/health.sh" <<EOF
#!/bin/sh
# HealthCheckProgram takes no arguments; slurmd gives it SLURMD_NODENAME and no PATH (scontrol is
# found in /usr/bin, execvp's default), so the wrapper names the configuration.
export SLURM_CONF=$SLURM_CONF
exec >>"$work/log/health-\$SLURMD_NODENAME.out" 2>&1
if [ -e "$work/fault.\$SLURMD_NODENAME" ]; then
  exec "$gpudoctor" health --drain --root "$tests/hosts/aws-g5-ubuntu2204-nodriver/root" --driver none
fi
export LD_LIBRARY_PATH="$fakes" GPUDOCTOR_FAKE_DRIVER="$tests/hosts/h200-captured/driver.json"
exec "$gpudoctor" health --drain --root "$tests/hosts/h200-captured/root" --driver host
EOF
cat >"$work/prolog.sh" <<EOF
#!/bin/sh
# A node that does not answer: its Prolog waits while the marker is there.
while [ -e "$work/hang.\$SLURMD_NODENAME" ]; do sleep 0.2; done
exit 0
EOF
chmod 755 "$work/health.sh" "$work/prolog.sh"

cat >"$SLURM_CONF" <<EOF
ClusterName=gpudoctortest
SlurmctldHost=localhost
SlurmctldPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$work/munge/socket
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool/%n
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd-%n.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/linear
SchedulerType=sched/builtin
MpiDefault=none
ReturnToService=2
Prolog=$work/prolog.sh
HealthCheckProgram=$work/health.sh
HealthCheckInterval=2
HealthCheckNodeState=ANY
NodeName=n1 NodeHostname=localhost NodeAddr=127.0.0.1 Port=$(free_port) CPUs=1 State=UNKNOWN
NodeName=n2 NodeHostname=localhost NodeAddr=127.0.0.1 Port=$(free_port) CPUs=1 State=UNKNOWN
NodeName=n3 NodeHostname=localhost NodeAddr=127.0.0.1 Port=$(free_port) CPUs=1 State=UNKNOWN
PartitionName=gpu Nodes=n[1-3] Default=YES MaxTime=INFINITE State=UP
EOF

slurmctld -f "$SLURM_CONF" 2>"$work/log/slurmctld.err" ||
  skip "slurmctld cannot start here: $(tail -3 "$work/log/slurmctld.err" | tr '\n' ' ')"
for n in n1 n2 n3; do
  mkdir -p "$work/spool/$n"
  slurmd -f "$SLURM_CONF" -N "$n" 2>"$work/log/slurmd-$n.err" ||
    skip "slurmd -N $n cannot start here: $(tail -3 "$work/log/slurmd-$n.err" | tr '\n' ' ')"
done
# Up when sinfo lists the three nodes idle (at most 20 s).
up=""
for _ in $(seq 100); do
  if [ "$(sinfo --noheader --Node --format='%N %T' 2>/dev/null | grep -c ' idle$')" = 3 ]; then up=1; break; fi
  sleep 0.2
done
if [ -z "$up" ]; then
  echo "sinfo: $(sinfo --Node 2>&1 | tr '\n' ' ')" >&2
  skip "the three slurmd did not register with slurmctld within 20 s here: $(tail -3 "$work/log/slurmctld.log" | tr '\n' ' ')"
fi
echo "Slurm $(sinfo --version) up: $(sinfo --noheader --Node --format='%N:%T' | tr '\n' ' ')"

# check JSON_FILE PYTHON_ASSERTIONS: j is the report.
check() {
  python3 - "$1" "$2" <<'EOF' || fail "report assertions failed: $(cat "$1")"
import json, sys
j = json.load(open(sys.argv[1]))
hosts = {h["host"]: h for h in j["hosts"]}
exec(sys.argv[2])
EOF
}

# 1. Every node answers; the binary (on a local file system) is copied by srun --bcast.
t0=$(date +%s.%N)
rc=0
"$gpudoctor" fleet --nodes 'n[1-3]' --bcast-dir "$work/bcast" --json >"$work/all.json" 2>"$work/all.err" || rc=$?
t1=$(date +%s.%N)
[ "$rc" -le 1 ] || fail "fleet exited $rc: $(cat "$work/all.err")"
check "$work/all.json" '
assert j["command"] == "fleet", j["command"]
assert sorted(hosts) == ["n1", "n2", "n3"], sorted(hosts)
assert j["nodes"] == 3 and j["not_answered"] == [], j["not_answered"]
assert sorted(h["file"] for h in j["hosts"]) == ["srun task 0", "srun task 1", "srun task 2"]
assert sorted(x for c in j["causes"] for x in c["hosts"]) == ["n1", "n2", "n3"], j["causes"]
assert all(h["root_cause"] for h in j["hosts"])
assert any("srun --bcast" in n for n in j["notes"]), j["notes"]
'
[ -z "$(ls -A "$work/bcast")" ] || fail "srun --bcast copies left behind: $(ls "$work/bcast")"
echo "fleet over 3 nodes: $(python3 -c "print(f'{$t1 - $t0:.2f}')") s (srun --bcast of the binary)"

# GPUDOCTOR_SLURM_BENCH=N: N more runs of each kind, timed (bench/RESULTS.md).
if [ -n "${GPUDOCTOR_SLURM_BENCH:-}" ]; then
  for mode in yes no; do
    times=()
    for _ in $(seq "$GPUDOCTOR_SLURM_BENCH"); do
      a=$(date +%s.%N)
      "$gpudoctor" fleet --nodes 'n[1-3]' --bcast "$mode" --bcast-dir "$work/bcast" --json >/dev/null 2>&1 || true
      b=$(date +%s.%N)
      times+=("$(python3 -c "print(f'{$b - $a:.2f}')")")
    done
    echo "bench: fleet --bcast $mode over 3 nodes: ${times[*]} s"
  done
fi

# ... and run in place, where every node sees the binary (here: one machine), as Markdown.
rc=0
"$gpudoctor" fleet --partition gpu --bcast no --markdown >"$work/all.md" 2>"$work/all.err" || rc=$?
[ "$rc" -le 1 ] || fail "fleet --bcast no exited $rc: $(cat "$work/all.err")"
for n in n1 n2 n3; do grep -q "\`$n\`" "$work/all.md" || fail "$n missing from the Markdown report: $(cat "$work/all.md")"; done
grep -q "did not answer" "$work/all.md" && fail "a node did not answer: $(cat "$work/all.md")"

# 2. n3's Prolog hangs: no snapshot from it within --timeout; n1 and n2 answer.
touch "$work/hang.n3"
rc=0
"$gpudoctor" fleet --nodes 'n[1-3]' --timeout 15 --bcast-dir "$work/bcast" --json >"$work/hang.json" 2>"$work/hang.err" || rc=$?
[ "$rc" = 1 ] || fail "fleet with a hung node exited $rc, not 1: $(cat "$work/hang.err")"
check "$work/hang.json" '
assert sorted(hosts) == ["n1", "n2"], sorted(hosts)
assert j["not_answered"] == ["n3"], j["not_answered"]
assert "--timeout 15" in j["not_answered_why"]["n3"], j["not_answered_why"]
assert j["verdict"] == "problem"
'
rm -f "$work/hang.n3"
# n3 comes back once its job is cleaned up.
for _ in $(seq 100); do
  [ "$(sinfo --noheader --Node --format='%N %T' | grep -c ' idle$')" = 3 ] && break
  sleep 0.2
done

# 3. A faked fault on n2: the HealthCheckProgram drains it, with the cause id as the reason.
touch "$work/fault.n2"
reason=""
for _ in $(seq 100); do
  reason=$(scontrol show node n2 | sed -n 's/^ *Reason=\(.*\) \[.*$/\1/p')
  [ -n "$reason" ] && break
  sleep 0.2
done
[ "$reason" = "gpudoctor: driver_not_installed" ] ||
  fail "n2 not drained by gpudoctor health --drain (Reason '$reason'): $(scontrol show node n2 | tr '\n' ' '); $(cat "$work"/log/health-n2.out 2>/dev/null)"
grep -q 'State=[A-Z+]*DRAIN' <<<"$(scontrol show node n2)" || fail "n2 has a Reason but is not draining: $(scontrol show node n2)"
grep -q '^ERROR: gpudoctor: Health check failed: driver_not_installed: ' "$work/log/health-n2.out" ||
  fail "n2's health line: $(cat "$work/log/health-n2.out")"
for n in n1 n3; do
  grep -q 'State=[A-Z+]*DRAIN' <<<"$(scontrol show node "$n")" && fail "fit node $n drained: $(scontrol show node "$n")"
  grep -q '^OK: gpudoctor: node fit: 1 NVIDIA GPU(s): NVIDIA H200' "$work/log/health-$n.out" ||
    fail "$n's health line: $(cat "$work/log/health-$n.out" 2>/dev/null)"
done
echo "n2 drained: Reason=$reason"

# 4. fleet again: the drained node does not answer, and the report says why.
rc=0
"$gpudoctor" fleet --nodes 'n[1-3]' --bcast-dir "$work/bcast" --json >"$work/drained.json" 2>"$work/drained.err" || rc=$?
[ "$rc" = 1 ] || fail "fleet with a drained node exited $rc, not 1: $(cat "$work/drained.err")"
check "$work/drained.json" '
assert sorted(hosts) == ["n1", "n3"], sorted(hosts)
assert j["not_answered"] == ["n2"], j["not_answered"]
why = j["not_answered_why"]["n2"]
assert why.startswith("Slurm state drain") and "gpudoctor: driver_not_installed" in why, why
'

# 5. n1's slurmd is gone (slurmctld still lists it idle): its launch fails, srun says so, n3 answers.
n1_pid=$(cat "$work/slurmd-n1.pid")
kill "$n1_pid"
for _ in $(seq 50); do kill -0 "$n1_pid" 2>/dev/null || break; sleep 0.1; done
rc=0
"$gpudoctor" fleet --nodes 'n[1-3]' --bcast no --json >"$work/lost.json" 2>"$work/lost.err" || rc=$?
[ "$rc" = 1 ] || fail "fleet with a lost slurmd exited $rc, not 1: $(cat "$work/lost.err")"
check "$work/lost.json" '
assert sorted(hosts) == ["n3"], sorted(hosts)
assert j["not_answered"] == ["n1", "n2"], j["not_answered"]
assert j["not_answered_why"]["n1"].startswith("srun: task launch failed: "), j["not_answered_why"]
assert j["not_answered_why"]["n2"].startswith("Slurm state drain"), j["not_answered_why"]
'
echo "PASSED"
