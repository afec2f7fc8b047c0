#!/usr/bin/env bash
# CPU benchmark: training and sampling chars/s of abc-cuda's CPU backend and of the same
# model in PyTorch (Debian's python3-torch, 2 threads), same shapes, same machine, same
# run. Prints a markdown table with the ratios; --write puts it into BENCHMARKS.md.
#   tools/bench_cpu.sh [--write] [--repeats N]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
write=0
repeats=5
while [[ $# -gt 0 ]]; do
  case $1 in
    --write) write=1 ;;
    --repeats) repeats=$2; shift ;;
    *) echo "bench_cpu.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done
build=${BUILD_DIR:-build}
torch_python=${TORCH_PYTHON:-/usr/bin/python3}
[[ -f data/corpus/train.txt ]] || { echo "bench_cpu.sh: no corpus: run tools/fetch_corpus.sh and $build/abc_cuda_corpus" >&2; exit 1; }
if ! "$torch_python" -c "import torch" 2>/dev/null; then
  echo "bench_cpu.sh: installing python3-torch (Debian) for the PyTorch side"
  apt-get install -y -qq --no-install-recommends python3-torch >/dev/null
fi
cmake --build "$build" -j "$(nproc)" --target abc_cuda_bench >/dev/null

field() { sed -E "s/.*$1=([0-9.]+).*/\1/" <<<"$2"; }
cpu_name=$(lscpu | sed -nE 's/^Model name: *//p' | head -1)
torch_version=$("$torch_python" -c "import torch; print(torch.__version__)")
table="| cell | H | B | T | ours train chars/s | PyTorch train chars/s | ratio | ours sample chars/s | PyTorch sample chars/s | ratio |
|---|---|---|---|---|---|---|---|---|---|"
for cell in lstm rnn gru; do
  ours=$("$build/abc_cuda_bench" --device cpu --cell "$cell" --hidden 100 --batch 64 --seq 100 --repeats "$repeats")
  theirs=$("$torch_python" tools/torch_reference.py bench --cell "$cell" --hidden 100 --batch 64 --seq 100 \
    --threads 2 --repeats "$repeats")
  ot=$(field train_chars_per_s "$ours"); tt=$(field train_chars_per_s "$theirs")
  os=$(field sample_chars_per_s "$ours"); ts=$(field sample_chars_per_s "$theirs")
  row=$(awk -v c="$cell" -v ot="$ot" -v tt="$tt" -v os="$os" -v ts="$ts" \
    'BEGIN { printf "| %s | 100 | 64 | 100 | %d | %d | %.1fx | %d | %d | %.1fx |", c, ot, tt, ot / tt, os, ts, os / ts }')
  table+=$'\n'"$row"
done
header="CPU: $cpu_name, $(nproc) cores; PyTorch $torch_version (2 threads). Medians of $repeats runs, $(date -u +%Y-%m-%d)."
echo "$header"
echo "$table"
if [[ $write == 1 ]]; then
  python3 - "$header" "$table" <<'PY'
import sys, re, pathlib
path = pathlib.Path("BENCHMARKS.md")
text = path.read_text() if path.exists() else "# Benchmarks\n"
section = "## CPU: training and sampling, ours vs PyTorch\n\n" + sys.argv[1] + "\n\n" + sys.argv[2] + "\n"
# Replaces the header line and the table only: the notes under the table stay.
pattern = re.compile(r"## CPU: training and sampling, ours vs PyTorch\n\n[^\n]*\n\n(?:\|[^\n]*\n?)+")
text = pattern.sub(lambda _: section, text, count=1) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
path.write_text(text)
PY
  echo "bench_cpu.sh: wrote BENCHMARKS.md"
fi
