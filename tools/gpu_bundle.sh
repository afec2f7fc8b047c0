#!/usr/bin/env bash
# Builds a self-contained GPU test bundle: the programs and test suites for sm_90
# (H100/H200), linked so that another machine needs only its system C and C++ libraries
# plus cuBLAS and cuDNN, which run.sh takes from that machine's PyTorch wheels.
#   tools/gpu_bundle.sh [--out DIR]      (default build-gpu-bundle/bundle)
# Then on the GPU machine: DIR/run.sh [--no-tests] [--bench [bench_gpu.sh options]]
# Environment: BUNDLE_BUILD_DIR (default build-gpu-bundle), JOBS (default: number of cores).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${BUNDLE_BUILD_DIR:-build-gpu-bundle}
out=$build/bundle
while [[ $# -gt 0 ]]; do
  case $1 in
    --out) out=${2:?--out needs a folder}; shift ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "gpu_bundle.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
jobs=${JOBS:-$(nproc)}
programs=(abc_cuda_train abc_cuda_sample abc_cuda_eval abc_cuda_bench abc_cuda_device)
tests=(abc_gpu_tests abc_tests)
lab=(lab_lstm_pointwise lab_rnn_pointwise lab_persistent_recurrence)  # dev/kernels: gpu_check.sh's lab step
limit_mib=64  # what a device run can carry along

# A separate build dir, so the normal build keeps its own settings.
echo "gpu_bundle.sh: configuring $build (sm_90, Release, static dependencies)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DABC_ENABLE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DCMAKE_CUDA_RUNTIME_LIBRARY=Static -DABC_STATIC_DEPS=ON -DABC_BUILD_TESTS=ON -DABC_BUILD_KERNEL_LAB=ON -DABC_NATIVE_CPU=OFF -DABC_BUILD_SERVE=OFF \
  >"$build.configure.log" 2>&1 || {
  cat "$build.configure.log" >&2
  echo "gpu_bundle.sh: configure failed (nvcc on PATH or CUDACXX set? tools/setup.sh installs the rest)" >&2
  exit 1
}
grep "abc-cuda:" "$build.configure.log" || true
cmake --build "$build" -j "$jobs" --target "${programs[@]}" "${tests[@]}" "${lab[@]}"

# The bundle: stripped programs (the kernel lab's too), the shared OpenBLAS, the corpus for
# bench_gpu.sh and the test data, the two benchmark scripts and run.sh.
rm -rf "$out"
mkdir -p "$out/bin" "$out/lib" "$out/tools" "$out/tests"
for p in "${programs[@]}"; do strip -o "$out/bin/$p" "$build/$p"; done
for t in "${tests[@]}"; do strip -o "$out/bin/$t" "$build/tests/$t"; done
for l in "${lab[@]}"; do strip -o "$out/bin/$l" "$build/dev/kernels/$l"; done
strip --strip-unneeded -o "$out/lib/libabc_openblas.so" "$build/libabc_openblas.so"
cp tools/bench_gpu.sh tools/torch_reference.py "$out/tools/"
cp tools/gpu_bundle_run.sh "$out/run.sh"
cp -r tests/data "$out/tests/data"
mkdir -p "$out/tests/fuzz" && cp -r tests/fuzz/regressions "$out/tests/fuzz/"
if [[ -f data/corpus/train.txt ]]; then
  mkdir -p "$out/data/corpus"
  cp data/corpus/train.txt data/corpus/val.txt "$out/data/corpus/"
else
  echo "gpu_bundle.sh: note: no data/corpus/train.txt, so the bundle has no corpus (run.sh --bench needs one:" \
    "tools/fetch_corpus.sh, then build/abc_cuda_corpus)" >&2
fi
{
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -n)"
  grep "abc-cuda:" "$build.configure.log" | sed 's/^-- //'
} >"$out/BUILD_INFO.txt"

# Only system libraries plus cuBLAS/cuDNN (and our OpenBLAS in lib/) may be needed.
allowed='^(linux-vdso|ld-linux-x86-64|libc|libm|libdl|librt|libpthread|libstdc\+\+|libgcc_s|libcublas|libcublasLt|libcudnn[a-z_]*|libabc_openblas)\.so'
bad=0
for f in "$out"/bin/*; do
  while read -r lib _; do
    if ! [[ $lib =~ $allowed ]]; then
      echo "gpu_bundle.sh: $(basename "$f") needs $lib, which the GPU machine may lack: link it statically (CMakeLists.txt, ABC_STATIC_DEPS) or copy it into lib/" >&2
      bad=1
    fi
  done < <(ldd "$f" | awk '{ print $1 }' | sed 's|.*/||')
done
[[ $bad == 0 ]] || exit 1
# Symbol versions set the oldest system the bundle runs on.
glibc=$(objdump -T "$out"/bin/* "$out"/lib/* | grep -oE 'GLIBC_[0-9.]+' | sort -uV | tail -1)
glibcxx=$(objdump -T "$out"/bin/* | grep -oE 'GLIBCXX_[0-9.]+' | sort -uV | tail -1)
echo "gpu_bundle.sh: ldd $out/bin/abc_gpu_tests:"
ldd "$out/bin/abc_gpu_tests"
echo "gpu_bundle.sh: the bundle needs glibc >= ${glibc#GLIBC_} and a libstdc++ with $glibcxx on the GPU machine"
size_kib=$(du -sk "$out" | cut -f1)
echo "gpu_bundle.sh: $(du -sh "$out" | cut -f1) in $out"
if ((size_kib > limit_mib * 1024)); then
  echo "gpu_bundle.sh: the bundle is over $limit_mib MiB, too big to carry to a device run" >&2
  exit 1
fi
echo "gpu_bundle.sh: done; on the GPU machine run $out/run.sh (carry $out along)"
