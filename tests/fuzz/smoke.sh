#!/usr/bin/env bash
# CTest fuzz.smoke: builds libFuzzer targets with clang in a folder of their own (every library
# instrumented: tests/fuzz/CMakeLists.txt) and runs each for GPUDOCTOR_FUZZ_SECONDS (default 15)
# over its corpus in tests/corpus/. Which targets: GPUDOCTOR_FUZZ_TARGETS, by default all five
# (fuzz_binary fuzz_resolver fuzz_parsers fuzz_collect fuzz_report: every parser, the collectors,
# the resolver, the rules and the reports; about 750 CPU-seconds of build, 6 minutes on 2 idle
# cores: bench/RESULTS.md); "fuzz_binary fuzz_resolver" builds only core, sys, elf and loader. New
# inputs go to a scratch folder (the repository's corpus is not changed). A crash, a sanitizer
# report, a leak, an input slower than 10 s or one taking more than 2 GiB fails the test, naming
# the input kept under OUT/artifacts/.
#   tests/fuzz/smoke.sh SOURCE_DIR OUT
# Skipped (125), saying why, without clang or libFuzzer's runtime (scripts/install-deps.sh --tests).
set -euo pipefail
src=$1
out=$2
seconds=${GPUDOCTOR_FUZZ_SECONDS:-15}
read -r -a targets <<<"${GPUDOCTOR_FUZZ_TARGETS:-fuzz_binary fuzz_resolver fuzz_parsers fuzz_collect fuzz_report}"
jobs=${GPUDOCTOR_FUZZ_BUILD_JOBS:-$(nproc)}
if ! command -v clang++ >/dev/null || ! command -v clang >/dev/null; then
  echo "skipped: clang is not installed"
  exit 125
fi
mkdir -p "$out"
printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' >"$out/probe.cpp"
if ! clang++ -fsanitize=fuzzer,address,undefined "$out/probe.cpp" -o "$out/probe" 2>"$out/probe.log"; then
  echo "skipped: clang cannot link a libFuzzer target: $(head -c 300 "$out/probe.log")"
  exit 125
fi
start=$(date +%s)
# No -g: the build is the cost here (a stack trace still names functions and files).
cmake -S "$src" -B "$out" -G Ninja -DGPUDOCTOR_FUZZ=ON -DGPUDOCTOR_BUILD_TESTS=OFF \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=None \
  -DCMAKE_C_FLAGS=-O1 -DCMAKE_CXX_FLAGS=-O1 >"$out/configure.log"
cmake --build "$out" -j "$jobs" --target "${targets[@]}" >"$out/build.log" 2>&1 || { tail -50 "$out/build.log"; exit 1; }
built=$(date +%s)
echo "built the fuzzers in $((built - start)) s"

corpus=$src/tests/corpus
failed=0
run() {
  local target=$1
  shift
  local scratch
  scratch=$(mktemp -d)
  mkdir -p "$out/artifacts"
  local t0
  t0=$(date +%s)
  if ! "$out/fuzz/$target" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
      -print_final_stats=1 -artifact_prefix="$out/artifacts/$target-" "$scratch" "$@" >"$out/$target.log" 2>&1; then
    echo "FAILED: $target (log: $out/$target.log)"
    grep -E "ERROR|invariant broken|SUMMARY|Test unit written" "$out/$target.log" | head -20
    failed=1
  fi
  echo "$target: $(grep -E '^stat::number_of_executed_units' "$out/$target.log" | awk '{print $2}') runs in $(( $(date +%s) - t0 )) s, $(ls "$scratch" | wc -l) new inputs"
  rm -rf "$scratch"
}
for t in "${targets[@]}"; do
  case $t in
    fuzz_binary) run fuzz_binary "$corpus/elf" "$corpus/ld_so_cache" "$corpus/binary" ;;
    fuzz_parsers) run fuzz_parsers "$corpus/parsers" ;;
    fuzz_resolver | fuzz_collect) run "$t" "$corpus/tree" ;;
    fuzz_report) run fuzz_report "$corpus/snapshots" ;;
    *) echo "unknown fuzz target $t" >&2; exit 2 ;;
  esac
done
echo "in all $(( $(date +%s) - start )) s"
exit $failed
