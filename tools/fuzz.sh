#!/usr/bin/env bash
# Fuzzes the corpus reader, the checkpoint reader and the ABC grammar with libFuzzer (clang, with
# AddressSanitizer and UndefinedBehaviorSanitizer) for a bounded time each, starting
# from the seed corpora in tests/fuzz/. Prints the executions made; exits non-zero
# and keeps the crashing input in build-fuzz/crashes/ when a target fails.
#   tools/fuzz.sh [SECONDS_PER_TARGET]   (default 300)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
seconds=${1:-300}
build=${FUZZ_BUILD_DIR:-build-fuzz}
tools/setup.sh
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ missing: apt-get install clang libclang-rt-14-dev" >&2; exit 1; }
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
CC=clang CXX=clang++ cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DABC_ENABLE_CUDA=OFF \
  -DABC_BUILD_TESTS=OFF -DABC_BUILD_FUZZERS=ON -DCMAKE_CXX_FLAGS="$flags" >"$build.configure.log" 2>&1 ||
  { cat "$build.configure.log" >&2; exit 1; }
cmake --build "$build" -j "$(nproc)" --target fuzz_corpus fuzz_checkpoint fuzz_grammar >/dev/null

mkdir -p "$build/crashes"
status=0
for target in corpus checkpoint grammar; do
  work=$build/corpus_$target  # grows as the fuzzer finds new paths; the seeds stay as they are
  mkdir -p "$work"
  echo "fuzz.sh: fuzz_$target for $seconds s"
  if ! "$build/fuzz_$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=65536 \
      -artifact_prefix="$build/crashes/${target}_" -print_final_stats=1 \
      "$work" "tests/fuzz/corpus_$target" >"$build/fuzz_$target.log" 2>&1; then
    status=1
    echo "fuzz.sh: fuzz_$target FAILED; input kept in $build/crashes/, log $build/fuzz_$target.log" >&2
    grep -m5 -E "ERROR|SUMMARY|runtime error" "$build/fuzz_$target.log" >&2 || true
  fi
  runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$build/fuzz_$target.log" | tail -1)
  echo "fuzz.sh: fuzz_$target: ${runs:-?} executions in $seconds s, corpus $(ls "$work" | wc -l) inputs"
done
exit $status
