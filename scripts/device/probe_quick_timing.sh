#!/usr/bin/env bash
# Run on a lent machine: wall time of `gpudoctor probe --quick` five times in a row, from a fresh
# machine (the first run is cold: the driver's first cuInit, PTX not yet in the JIT cache, cuBLAS
# read from disk), and of the full probe once. Prints one line per run.
set -u
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
B=$PWD/.device/gpudoctor
nvidia-smi -L
for i in 1 2 3 4 5; do
  s=$(date +%s%N); "$B" probe --quick --json > /tmp/q.json; rc=$?; e=$(date +%s%N)
  python3 -c "import json,sys; d=json.load(open('/tmp/q.json')); print('quick run $i: exit $rc, wall %.2f s, child %.2f s, verdict %s' % (($e-$s)/1e9, d['probe']['child']['elapsed_ms']/1000, d['verdict']))"
done
s=$(date +%s%N); "$B" probe --json > /tmp/f.json; rc=$?; e=$(date +%s%N)
python3 -c "import json; d=json.load(open('/tmp/f.json')); print('full: exit $rc, wall %.2f s, child %.2f s, verdict %s' % (($e-$s)/1e9, d['probe']['child']['elapsed_ms']/1000, d['verdict']))"
