#!/usr/bin/env bash
# GPU benchmark: training and sampling chars/s of our CUDA backend, of our cuDNN backend
# (cuDNN runs the recurrent layers) and of the same model in PyTorch on the GPU, same
# shapes, same machine, same run. Prints one markdown table with the ratios; --write puts
# it into BENCHMARKS.md.
#   tools/bench_gpu.sh [--write] [--repeats N] [--quick | --check]
#   --quick: H=100 and B=1, 64 only, fewer steps (a smoke run; 3 repeats unless --repeats)
#   --check: one row, LSTM H=100 B=64 (sampling 64 streams), --quick's steps (tools/gpu_check.sh)
# Environment: BUILD_DIR (a build dir, or a bundle made by tools/gpu_bundle.sh; default
# build), TORCH_PYTHON (default python3), CORPUS (default data/corpus/train.txt, or the
# bundle's copy), ROW_TIMEOUT (seconds per measurement, default 300).
# A measurement that fails (no cuDNN backend in this build, PyTorch without a GPU ...)
# shows as n/a in the table, with the reason on stderr.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
write=0
repeats=
quick=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --write) write=1 ;;
    --repeats) repeats=${2:?--repeats needs a number}; shift ;;
    --quick) quick=1 ;;
    --check) quick=2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "bench_gpu.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

cells=(lstm rnn gru)
if [[ $quick == 1 ]]; then
  hiddens=(100); batches=(1 64); repeats=${repeats:-3}; steps=10; warmup=2; sample_chars=500
elif [[ $quick == 2 ]]; then
  cells=(lstm); hiddens=(100); batches=(64); repeats=${repeats:-3}; steps=10; warmup=2; sample_chars=500
else
  hiddens=(100 256 512); batches=(1 64 256); repeats=${repeats:-5}; steps=20; warmup=3; sample_chars=2000
fi
seq=100
sample_streams=" 1 64 "  # B values whose row also samples, with B streams

# Our programs: a bundle keeps them in bin/, a build dir at its top (built here if stale).
build=${BUILD_DIR:-build}
[[ $build == /* ]] || build=$root/$build
if [[ -x $build/bin/abc_cuda_bench ]]; then
  bin=$build/bin
elif [[ -f $build/CMakeCache.txt ]]; then
  cmake --build "$build" -j "$(nproc)" --target abc_cuda_bench abc_cuda_device >/dev/null || {
    echo "bench_gpu.sh: building abc_cuda_bench in $build failed (cmake --build $build shows why)" >&2
    exit 1
  }
  bin=$build
else
  echo "bench_gpu.sh: no abc_cuda_bench in $build: build one (cmake -S . -B build && cmake --build build)," \
    "or point BUILD_DIR at a bundle from tools/gpu_bundle.sh" >&2
  exit 1
fi
corpus=${CORPUS:-}
if [[ -z $corpus ]]; then
  corpus=data/corpus/train.txt
  [[ -f $build/data/corpus/train.txt ]] && corpus=$build/data/corpus/train.txt
fi
[[ -f $corpus ]] || { echo "bench_gpu.sh: no corpus at $corpus: run tools/fetch_corpus.sh and abc_cuda_corpus, or set CORPUS" >&2; exit 1; }
torch_python=${TORCH_PYTHON:-python3}
row_timeout=${ROW_TIMEOUT:-300}

# The GPU, and what PyTorch brings, for the header.
gpu=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1 | sed 's/, */ (driver /; s/$/)/') || true
if [[ -z $gpu || $gpu == ")" ]]; then
  gpu=$("$bin/abc_cuda_device" 2>/dev/null | sed -n 's/^GPU usable: //p') || true
fi
gpu=${gpu:-unknown GPU (no nvidia-smi, and abc_cuda_device found none)}
torch_ok=1
if ! torch_info=$("$torch_python" -c 'import torch
assert torch.cuda.is_available(), "torch.cuda.is_available() is False"
print(f"PyTorch {torch.__version__} (CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()})")' 2>&1); then
  echo "bench_gpu.sh: the PyTorch columns will be n/a: $torch_python has no usable CUDA PyTorch: ${torch_info##*$'\n'}" >&2
  torch_ok=0
  torch_info="PyTorch: not available"
fi

# Runs one measurement; prints its key=value line, or nothing (reason on stderr).
measure() {
  local label=$1 out err rc=0
  shift
  err=$(mktemp)
  out=$(timeout "$row_timeout" "$@" 2>"$err") || rc=$?
  if [[ $rc != 0 ]]; then
    local why
    why=$(grep -v '^[[:space:]]*$' "$err" | tail -1) || true
    [[ $rc == 124 ]] && why="timed out after ${row_timeout} s (ROW_TIMEOUT)"
    echo "bench_gpu.sh: $label: n/a: ${why:-exit code $rc}" >&2
    out=
  fi
  rm -f "$err"
  echo "$out"
}
# The number after KEY= in a key=value line, or n/a.
field() {
  local v
  v=$(grep -oE "(^| )$1=[0-9.]+" <<<"$2" | head -1 | cut -d= -f2) || true
  echo "${v:-n/a}"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2fx", a / b; else print "n/a" }'; }

table="| cell | H | B | ours train chars/s | cuDNN train chars/s | PyTorch train chars/s | ours / cuDNN | ours / PyTorch | ours sample chars/s | PyTorch sample chars/s | ours / PyTorch |
|---|---|---|---|---|---|---|---|---|---|---|"
per_step=""
for cell in "${cells[@]}"; do
  for hidden in "${hiddens[@]}"; do
    for batch in "${batches[@]}"; do
      shape=(--cell "$cell" --hidden "$hidden" --batch "$batch" --seq "$seq" --repeats "$repeats" --steps "$steps" --warmup "$warmup")
      if [[ $sample_streams == *" $batch "* ]]; then
        ours_sample=(--streams "$batch" --sample-chars "$sample_chars")
        torch_sample=(--sample-streams "$batch" --sample-chars "$sample_chars")
      else
        ours_sample=(--sample-chars 0); torch_sample=(--sample-chars 0)
      fi
      name="$cell H=$hidden B=$batch"
      echo "bench_gpu.sh: $name" >&2
      ours=$(measure "ours $name" "$bin/abc_cuda_bench" --device cuda --corpus "$corpus" "${shape[@]}" "${ours_sample[@]}")
      cudnn=$(measure "cuDNN backend $name" "$bin/abc_cuda_bench" --device cuda --backend cudnn --corpus "$corpus" "${shape[@]}" --sample-chars 0)
      theirs=
      if [[ $torch_ok == 1 ]]; then
        theirs=$(measure "PyTorch $name" "$torch_python" tools/torch_reference.py bench --device cuda --train "$corpus" \
          "${shape[@]}" "${torch_sample[@]}")
      fi
      ot=$(field train_chars_per_s "$ours"); ct=$(field train_chars_per_s "$cudnn"); tt=$(field train_chars_per_s "$theirs")
      if [[ $sample_streams == *" $batch "* ]]; then
        os=$(field sample_chars_per_s "$ours"); ts=$(field sample_chars_per_s "$theirs"); sr=$(ratio "$os" "$ts")
      else
        os="–"; ts="–"; sr="–"
      fi
      table+=$'\n'"| $cell | $hidden | $batch | $ot | $ct | $tt | $(ratio "$ot" "$ct") | $(ratio "$ot" "$tt") | $os | $ts | $sr |"
      if [[ $hidden == 100 && $batch == 64 ]]; then
        per_step+=$'\n'"- $cell: ours forward $(field fwd_us_per_step "$ours") µs, backward $(field bwd_us_per_step "$ours") µs;"
        per_step+=" cuDNN backend forward $(field fwd_us_per_step "$cudnn") µs, backward $(field bwd_us_per_step "$cudnn") µs"
      fi
    done
  done
done

mode=""
[[ $quick == 1 ]] && mode=" Quick run (--quick: $steps steps, $sample_chars sampling steps)."
[[ $quick == 2 ]] && mode=" Check run (--check: LSTM H=100 B=64 only, $steps steps, $sample_chars sampling steps)."
header="GPU: $gpu; $torch_info. T=$seq. Medians of $repeats runs, $(date -u +%Y-%m-%d).$mode"
how="How: \`tools/bench_gpu.sh --write\` runs \`abc_cuda_bench --device cuda\` (our kernels),
\`abc_cuda_bench --device cuda --backend cudnn\` (our backend with cuDNN running the recurrent layers) and
\`tools/torch_reference.py bench --device cuda\` (the same model in PyTorch, \`nn.LSTM\`/\`nn.RNN\`
on cuDNN) one after the other on the same GPU and the same default-corpus text. Training
chars/s: forward + backward + clipping + Adam over B×T characters per step, timed until
the device is done, $warmup warm-up steps excluded, median of $repeats repeats of $steps steps.
Sampling chars/s (rows with B = 1 and 64 only): B streams, one character each per step,
temperature 0.8, $sample_chars steps; ours copies the drawn tokens to the host every step
(as \`abc_cuda_sample\` does), PyTorch keeps them on the GPU (its best case).

Per recurrent step at H=100, B=64: forward = one \`evaluate\` on a training chunk / T
(no dropout, loss summed on the GPU); backward = (one training step - that forward) / T,
so it includes clipping and Adam:$per_step"
echo "$header"
echo
echo "$table"
echo
echo "$how"
if [[ $write == 1 ]]; then
  python3 - "$header" "$table" "$how" <<'PY'
import sys, re, pathlib
path = pathlib.Path("BENCHMARKS.md")
text = path.read_text() if path.exists() else "# Benchmarks\n"
title = "## GPU: training and sampling, ours vs our cuDNN backend vs PyTorch"
section = title + "\n\n" + sys.argv[1] + "\n\n" + sys.argv[2] + "\n\n" + sys.argv[3] + "\n"
mine = re.compile(re.escape(title) + r"\n.*?(?=\n## |\Z)", re.S)
# The "## GPU" placeholder ("Not measured on a GPU yet ...") gives way to the numbers.
placeholder = re.compile(r"## GPU\n\nNot measured on a GPU yet.*?(?=\n## |\Z)", re.S)
if mine.search(text):
    text = mine.sub(lambda m: section.rstrip("\n"), text)
elif placeholder.search(text):
    text = placeholder.sub(lambda m: section.rstrip("\n"), text)
else:
    text = text.rstrip("\n") + "\n\n" + section
path.write_text(text.rstrip("\n") + "\n")
PY
  echo "bench_gpu.sh: wrote $root/BENCHMARKS.md"
fi
