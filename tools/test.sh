#!/usr/bin/env bash
# Sets up, configures, builds and runs the whole test suite; non-zero exit on any failure.
#   tools/test.sh          CPU machine: GPU tests skip with the reason
#   tools/test.sh --gpu    GPU runner: fails fast when no GPU is usable, and GPU tests
#                          fail instead of skipping
# Environment: BUILD_DIR (default build), JOBS (default: number of cores).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

require_gpu=0
for arg in "$@"; do
  case $arg in
    --gpu) require_gpu=1 ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "test.sh: unknown option '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

build=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}

tools/setup.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >"$build.configure.log" 2>&1 || {
  cat "$build.configure.log" >&2
  echo "test.sh: configure failed" >&2
  exit 1
}
grep "abc-cuda:" "$build.configure.log" || true
cmake --build "$build" -j "$jobs"

if [[ $require_gpu == 1 ]]; then
  "$build/abc_cuda_device" || { echo "test.sh: --gpu given but no GPU is usable (see the line above)" >&2; exit 1; }
  export ABC_REQUIRE_GPU=1
fi
cd "$build"
ctest --output-on-failure -j "$jobs"
