#!/usr/bin/env bash
# Throughput of `gpudoctor explain` on a big log against `grep -E -f` with the same patterns,
# side by side in one run. Usage: bench/explain_vs_grep.sh GPUDOCTOR [SIZE_MB] [WORK_DIR]
#
# The log: the real lines of tests/data/*.txt and tests/explain/*/input.txt (TensorFlow, PyTorch,
# JAX logs as users posted them), repeated between long runs of ordinary training output, until it
# holds SIZE_MB megabytes (default 1024). The patterns: every pattern of the compiled-in catalogue
# (`gpudoctor explain --list-patterns`), rewritten from RE2 to POSIX ERE for grep (named groups to
# plain groups, \d to [0-9], lazy quantifiers to greedy: the same lines match).
set -euo pipefail
bin=${1:?usage: explain_vs_grep.sh GPUDOCTOR [SIZE_MB] [WORK_DIR]}
size_mb=${2:-1024}
work=${3:-$(mktemp -d)}
here=$(cd "$(dirname "$0")/.." && pwd)
log="$work/big.log"
pat="$work/patterns.ere"

"$bin" explain --list-patterns | python3 -c '
import re, sys
for p in sys.stdin.read().splitlines():
    p = re.sub(r"\(\?P<[A-Za-z_][A-Za-z0-9_]*>", "(", p)
    p = p.replace("(?:", "(").replace(r"\d", "[0-9]").replace("*?", "*").replace("+?", "+").replace("??", "?")
    p = re.sub(r"\(\?i\)", "", p)
    print(p)
' > "$pat"

if [[ ! -s "$log" || $(stat -c %s "$log") -lt $((size_mb * 1000000)) ]]; then
  python3 - "$log" "$size_mb" "$here" <<'PY'
import glob, os, random, sys
out, size_mb, here = sys.argv[1], int(sys.argv[2]), sys.argv[3]
real = []
for f in sorted(glob.glob(os.path.join(here, "tests/explain/*/input.txt")) + glob.glob(os.path.join(here, "tests/data/explain_*.txt"))):
    real += open(f, encoding="utf-8", errors="replace").read().splitlines()
rng = random.Random(1)
noise = [
    "Epoch {e}/100",
    "{s}/{t} [==============================] - 12s 21ms/step - loss: 0.{l:04d} - accuracy: 0.9{a:03d} - val_loss: 0.{l:04d}",
    "\x1b[32mINFO\x1b[0m:root:step {s} lr=0.000{l} grad_norm={a}.{l}",
    "100%|##########| {s}/{t} [00:{a:02d}<00:00, {l}.{a}it/s]\r",
]
target = size_mb * 1000000
with open(out, "w", encoding="utf-8") as f:
    written = 0
    while written < target:
        chunk = []
        for _ in range(2000):
            t = rng.choice(noise)
            chunk.append(t.format(e=rng.randint(1, 100), s=rng.randint(1, 9999), t=9999, l=rng.randint(0, 9999), a=rng.randint(0, 59)))
        chunk.append(rng.choice(real))
        text = "\n".join(chunk) + "\n"
        f.write(text)
        written += len(text.encode())
PY
fi

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "log: $(stat -c %s "$log") bytes, $(wc -l < "$log") lines; patterns: $(wc -l < "$pat")"
cat "$log" > /dev/null  # warm the page cache for both
for run in 1 2 3; do
  # (not to /dev/null: GNU grep then stops at the first match)
  /usr/bin/time -f "grep -E -f: %e s, %M KiB peak" grep -c -E -f "$pat" "$log" > "$work/grep.count"
  /usr/bin/time -f "gpudoctor explain: %e s, %M KiB peak" "$bin" explain "$log" --json > "$work/explain.json" || true
done
echo "grep: $(cat "$work/grep.count") matching lines"
python3 -c "import json,sys; j=json.load(open(sys.argv[1])); print('explain:', j['verdict'], [c['id'] for c in j['causes']][:3], 'significant lines', j['significant_lines'])" "$work/explain.json"
