#!/usr/bin/env bash
# The main job on a fresh machine: install what is missing, fetch the default corpus,
# build, build the training corpus, train the default model, and sample tunes.
# Extra arguments go to abc_cuda_train (for example --epochs 5).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${BUILD_DIR:-build}

tools/setup.sh
tools/fetch_corpus.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >"$build.configure.log" 2>&1 || { cat "$build.configure.log" >&2; exit 1; }
cmake --build "$build" -j "$(nproc)" >/dev/null
[[ -f data/corpus/train.txt && -f data/corpus/val.txt ]] || "$build/abc_cuda_corpus"
if [[ -x $build/abc_cuda_train ]]; then
  "$build/abc_cuda_train" --cell lstm --hidden 100 "$@"
  "$build/abc_cuda_sample" --n 10
fi
