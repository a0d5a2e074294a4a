#!/usr/bin/env bash
# A real scrape of `gpudoctor check --prometheus-file`: Debian's prometheus-node-exporter reads the
# file through its textfile collector, a real Prometheus scrapes node_exporter on loopback, and the
# values are read back through Prometheus' HTTP API (/api/v1/query).
# Usage: prometheus_scrape.sh GPUDOCTOR FAKES_DIR TEST_DATA. Exit 125 (skipped) without the binaries.
set -euo pipefail
gpudoctor=$1 fakes=$2 data=$3
for tool in prometheus prometheus-node-exporter curl python3; do
  if ! command -v "$tool" >/dev/null; then
    echo "SKIPPED: $tool is not installed (apt-get install prometheus prometheus-node-exporter curl)"
    exit 125
  fi
done
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# A port nobody listens on, chosen by the kernel.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

mkdir -p "$work/textfile"
LD_LIBRARY_PATH=$fakes GPUDOCTOR_FAKE_DRIVER=$data/probe/h100x2.driver.json \
  "$gpudoctor" check --probe-quick --prometheus-file "$work/textfile/gpudoctor.prom" >"$work/check.out" || true
grep -q '^gpudoctor_probe_measured_bytes_per_second' "$work/textfile/gpudoctor.prom"

exporter_port=$(free_port)
prometheus-node-exporter --web.listen-address="127.0.0.1:$exporter_port" --collector.disable-defaults \
  --collector.textfile --collector.textfile.directory="$work/textfile" >"$work/exporter.log" 2>&1 &
pids+=($!)
prom_port=$(free_port)
cat >"$work/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ["127.0.0.1:$exporter_port"]
EOF
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
pids+=($!)

# Waits (at most 60 s) for Prometheus to have scraped the series; prints its value.
query() {
  local q=$1
  for _ in $(seq 120); do
    if out=$(curl -sf --max-time 2 "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$q" 2>/dev/null); then
      value=$(python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' <<<"$out")
      if [ -n "$value" ]; then echo "$value"; return 0; fi
    fi
    sleep 0.5
  done
  echo "no value for $q; node_exporter said:" >&2; cat "$work/exporter.log" >&2
  echo "prometheus said:" >&2; tail -20 "$work/prometheus.log" >&2
  return 1
}

# The device copy of GPU 0 in the recording of the 2 x H100 host: what the file says, read back.
want=$(grep '^gpudoctor_probe_measured_bytes_per_second{gpu="0",.*figure="device copy"}' "$work/textfile/gpudoctor.prom" | awk '{print $NF}')
got=$(query 'gpudoctor_probe_measured_bytes_per_second{job="node",gpu="0",figure="device copy"}')
echo "device copy of GPU 0: file $want, Prometheus $got"
python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if a == b and a > 1e12 else 1)" "$want" "$got"
# The verdict and a layer's state as one reads them in an alert rule.
got=$(query 'gpudoctor_layer_state{layer="hardware",state="passed"}')
[ "$got" = 1 ] || { echo "hardware layer passed: $got"; exit 1; }
got=$(query 'gpudoctor_verdict_info{verdict="healthy",root_cause="healthy"}')
[ "$got" = 1 ] || { echo "verdict_info: $got"; exit 1; }
echo "scraped through node_exporter $exporter_port and Prometheus $prom_port"
