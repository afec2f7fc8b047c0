#!/usr/bin/env bash
# run.sh of the GPU test bundle (tools/gpu_bundle.sh copies this file in): finds cuBLAS
# and cuDNN in the local PyTorch's nvidia wheels, checks that every library the programs
# need resolves, then runs the GPU tests with a GPU required.
#   run.sh [--no-tests] [--bench [bench_gpu.sh options, e.g. --quick --write]] [-- gtest options]
# Environment: TORCH_PYTHON (default python3), ABC_CUDA_LIB_DIRS (extra library folders,
# colon-separated, searched first), GTEST_OUTPUT (e.g. xml:/path/report.xml).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
run_tests=1
bench=0
bench_args=()
gtest_args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --no-tests) run_tests=0 ;;
    --bench) bench=1; shift
      while [[ $# -gt 0 && $1 != -- ]]; do bench_args+=("$1"); shift; done
      continue ;;
    --) shift; gtest_args=("$@"); break ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
torch_python=${TORCH_PYTHON:-python3}

# cuBLAS and cuDNN: the pip wheels of PyTorch (nvidia/cu13/lib, nvidia/cudnn/lib ...),
# found without importing torch (which would take seconds and could load other copies).
lib_dirs=${ABC_CUDA_LIB_DIRS:-}
site=$("$torch_python" -c 'import importlib.util, os
s = importlib.util.find_spec("torch")
print(os.path.dirname(os.path.dirname(s.origin)) if s else "")' 2>/dev/null) || site=
if [[ -n $site && -d $site/nvidia ]]; then
  for lib in libcublas.so.13 libcublasLt.so.13 libcudnn.so.9; do
    dir=$(find "$site/nvidia" -name "$lib" -path '*/lib/*' -printf '%h\n' 2>/dev/null | head -1) || true
    [[ -n $dir && :$lib_dirs: != *":$dir:"* ]] && lib_dirs=${lib_dirs:+$lib_dirs:}$dir
  done
else
  echo "run.sh: note: $torch_python has no PyTorch with nvidia wheels; relying on ABC_CUDA_LIB_DIRS and the system's libraries" >&2
fi
export LD_LIBRARY_PATH=${lib_dirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
echo "run.sh: LD_LIBRARY_PATH=$LD_LIBRARY_PATH"

echo "== nvidia-smi"
nvidia-smi || echo "run.sh: nvidia-smi failed or is missing (no driver here?)" >&2
echo "== ldd bin/abc_gpu_tests"
ldd "$here/bin/abc_gpu_tests"
missing=$(for f in "$here"/bin/*; do ldd "$f"; done | awk '/not found/ { print $1 }' | sort -u)
if [[ -n $missing ]]; then
  for lib in $missing; do
    echo "run.sh: error: $lib not found: install a CUDA 13 PyTorch for $torch_python" \
      "(pip install torch --index-url https://download.pytorch.org/whl/cu130), or set ABC_CUDA_LIB_DIRS to the folder holding it" >&2
  done
  exit 1
fi
echo "== bin/abc_cuda_device"
"$here/bin/abc_cuda_device" || { echo "run.sh: no usable GPU (the line above says why)" >&2; exit 1; }

# The data-reading programs default to the bundle's corpus.
export ABC_CUDA_DATA=${ABC_CUDA_DATA:-$here/data}
# The test suites read the bundle's copy of tests/data (bin/abc_tests runs the CPU suite).
export ABC_TEST_DATA_DIR=${ABC_TEST_DATA_DIR:-$here/tests/data}
rc=0
if [[ $run_tests == 1 ]]; then
  echo "== bin/abc_gpu_tests (ABC_REQUIRE_GPU=1)"
  ABC_REQUIRE_GPU=1 "$here/bin/abc_gpu_tests" ${gtest_args[@]+"${gtest_args[@]}"} || rc=$?
  [[ $rc == 0 ]] || echo "run.sh: abc_gpu_tests failed (exit code $rc)" >&2
fi
if [[ $bench == 1 ]]; then
  # The repository's script when the bundle sits in a checkout (so --write updates its
  # BENCHMARKS.md), else the bundle's copy.
  script=$here/tools/bench_gpu.sh
  [[ -x $here/../../tools/bench_gpu.sh ]] && script=$(cd "$here/../.." && pwd)/tools/bench_gpu.sh
  echo "== $script ${bench_args[*]+${bench_args[*]}}"
  BUILD_DIR=$here TORCH_PYTHON=$torch_python "$script" ${bench_args[@]+"${bench_args[@]}"} || {
    echo "run.sh: bench_gpu.sh failed" >&2
    rc=1
  }
fi
exit "$rc"
