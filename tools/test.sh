#!/usr/bin/env bash
# Sets up, configures, builds and runs the whole test suite; non-zero exit on any failure.
#   tools/test.sh          CPU machine: GPU tests skip with the reason; the CUDA code still
#                          runs, on the host emulation (label emulated, tests/emu)
#   tools/test.sh --gpu    GPU runner: fails fast when no GPU is usable, and GPU tests
#                          fail instead of skipping
#   tools/test.sh --sanitize  the whole suite under AddressSanitizer and
#                          UndefinedBehaviorSanitizer (CPU build, in build-sanitize/)
# Environment: BUILD_DIR (default build), JOBS (default: number of cores).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

require_gpu=0
sanitize=0
for arg in "$@"; do
  case $arg in
    --gpu) require_gpu=1 ;;
    --sanitize) sanitize=1 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

build=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}
config=(-DCMAKE_BUILD_TYPE=Release)
if [[ $sanitize == 1 ]]; then
  build=${BUILD_DIR:-build-sanitize}
  # CUDA's runtime and ASan do not mix; the sanitized build is the CPU program.
  # The CUDA host emulation is left out too: ASan does not follow its fiber stack switches.
  config=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DABC_ENABLE_CUDA=OFF -DABC_BUILD_EMULATION=OFF
    "-DCMAKE_CXX_FLAGS=-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer")
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi

tools/setup.sh --with-torch
# The real corpus, for the tests that run over every real tune (the grammar's); the
# download is part of the install step (pinned, checksummed, cached in data/cache).
tools/fetch_corpus.sh >/dev/null
cmake -S . -B "$build" "${config[@]}" >"$build.configure.log" 2>&1 || {
  cat "$build.configure.log" >&2
  echo "test.sh: configure failed" >&2
  exit 1
}
grep "abc-cuda:" "$build.configure.log" || true
cmake --build "$build" -j "$jobs"
[[ -f data/corpus/val.txt ]] || "$build/abc_cuda_corpus" >/dev/null

if [[ $require_gpu == 1 ]]; then
  "$build/abc_cuda_device" || { echo "test.sh: --gpu given but no GPU is usable (see the line above)" >&2; exit 1; }
  export ABC_REQUIRE_GPU=1
  # The ours-vs-cuDNN suite appends its worst errors here; shown after the run.
  export ABC_CUDNN_REPORT=$(cd "$build" && pwd)/cudnn_report.md
  rm -f "$ABC_CUDNN_REPORT"
elif ! probe=$("$build/abc_cuda_device"); then
  echo "test.sh: the gpu-labelled tests will be skipped: ${probe#no usable GPU: }"
fi
cd "$build"
status=0
ctest --output-on-failure -j "$jobs" || status=$?
if [[ -n ${ABC_CUDNN_REPORT:-} && -f $ABC_CUDNN_REPORT ]]; then
  echo "== ours vs cuDNN: worst errors ($ABC_CUDNN_REPORT) =="
  cat "$ABC_CUDNN_REPORT"
fi
exit "$status"
