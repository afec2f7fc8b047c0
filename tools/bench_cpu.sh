#!/usr/bin/env bash
# CPU benchmark: abc-cuda's CPU backend against the same model in PyTorch (Debian's
# python3-torch), same shapes, same machine, same run. For LSTM, RNN and GRU at H=100,
# T=100, B=16 and 64, each program with 1 and with 2 threads: training chars/s, CPU
# seconds per million trained characters, the share of the machine's FMA peak; then
# evaluation chars/s and sampling chars/s with 1 and 64 streams. Prints markdown tables
# with the ratios; --write puts them into BENCHMARKS.md.
#   tools/bench_cpu.sh [--write] [--rounds N] [--repeats N] [--quick]
#   --rounds N: ours and PyTorch take turns N times per shape (default 3), so that a slow
#            spell of this shared machine falls on both; each figure is the median over the
#            rounds, each ratio the median of the rounds' own ratios
#   --quick: 1 round, 1 repeat (unless given), 2 steps, short sampling: checks that the
#            script runs; its numbers mean nothing
#   --cells LIST, --batches LIST: only these (comma-separated, e.g. --cells lstm --batches 16),
#            for a quick look at one shape; not with --write (BENCHMARKS.md keeps the whole table)
# Environment: BUILD_DIR (default build), TORCH_PYTHON (default /usr/bin/python3), CORPUS
# (default data/corpus/train.txt), CXX (compiles tools/fma_peak.cpp; default c++).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
write=0
only_cells=
only_batches=
repeats=
rounds=
quick=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --write) write=1 ;;
    --repeats) repeats=${2:?--repeats needs a number}; shift ;;
    --rounds) rounds=${2:?--rounds needs a number}; shift ;;
    --quick) quick=1 ;;
    --cells) only_cells=${2:?--cells needs a list, e.g. lstm,gru}; shift ;;
    --batches) only_batches=${2:?--batches needs a list, e.g. 16,64}; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "bench_cpu.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
die() { echo "bench_cpu.sh: $*" >&2; exit 1; }

hidden=100
seq=100
cells=(lstm rnn gru)
batches=(16 64)
if [[ -n $only_cells || -n $only_batches ]]; then
  [[ $write == 0 ]] || die "--write needs the whole table: leave out --cells and --batches"
  if [[ -n $only_cells ]]; then
    IFS=, read -r -a cells <<<"$only_cells"
    for c in "${cells[@]}"; do [[ $c =~ ^(lstm|rnn|gru)$ ]] || die "--cells takes lstm, rnn, gru (got '$c')"; done
  fi
  if [[ -n $only_batches ]]; then
    IFS=, read -r -a batches <<<"$only_batches"
    for b in "${batches[@]}"; do [[ $b =~ ^(16|64)$ ]] || die "--batches takes 16, 64 (got '$b')"; done
  fi
fi
for n in "$repeats" "$rounds"; do
  [[ -z $n || $n =~ ^[1-9][0-9]*$ ]] || die "--repeats and --rounds take a whole number from 1 (got '$n')"
done
if [[ $quick == 1 ]]; then
  repeats=${repeats:-1}; rounds=${rounds:-1}; steps=2; warmup=1
  ours_sample_1=200; torch_sample_1=50; sample_64=20
else
  repeats=${repeats:-5}; rounds=${rounds:-3}; steps=20; warmup=3
  # Steps per repeat: one stream is fast for us, slow for PyTorch; 64 streams are 64 chars a step.
  ours_sample_1=20000; torch_sample_1=2000; sample_64=2000
fi

build=${BUILD_DIR:-build}
[[ $build == /* ]] || build=$root/$build
[[ -f $build/CMakeCache.txt ]] || die "no build in $build: cmake -S . -B build -DCMAKE_BUILD_TYPE=Release, or set BUILD_DIR"
cmake --build "$build" -j "$(nproc)" --target abc_cuda_bench >/dev/null ||
  die "building abc_cuda_bench in $build failed (cmake --build $build --target abc_cuda_bench shows why)"
bench=$build/abc_cuda_bench
"$bench" --help 2>&1 | grep -q -- '--threads' || die "rebuild: this abc_cuda_bench ($bench) has no --threads"
corpus=${CORPUS:-data/corpus/train.txt}
[[ -f $corpus ]] || die "no corpus at $corpus: run tools/fetch_corpus.sh and $build/abc_cuda_corpus, or set CORPUS"
torch_python=${TORCH_PYTHON:-/usr/bin/python3}
torch_version=$("$torch_python" -c 'import torch; print(torch.__version__)' 2>/dev/null) ||
  die "$torch_python cannot import torch: apt-get install python3-torch (Debian), or set TORCH_PYTHON to a Python that has it"

# Runs one measurement and prints its key=value line; a failure ends the script, with the
# program's last error line.
measure() {
  local label=$1 out err rc=0
  shift
  err=$(mktemp)
  out=$("$@" 2>"$err") || rc=$?
  local why
  why=$(grep -v '^[[:space:]]*$' "$err" | tail -1) || true
  rm -f "$err"
  if [[ $rc != 0 ]]; then
    [[ $why == *--threads* && $1 == "$bench" ]] && die "rebuild: this abc_cuda_bench ($bench) has no --threads ($why)"
    die "$label failed (exit $rc): ${why:-no message}"
  fi
  echo "$out"
}
# The number after KEY= in a key=value line, or n/a.
field() {
  local v
  v=$(grep -oE "(^| )$1=[0-9.]+" <<<"$2" | head -1 | cut -d= -f2) || true
  echo "${v:-n/a}"
}

# The machine's FMA peak, measured: tools/fma_peak.cpp runs independent vector FMA chains
# on every core (compiled here for this CPU). A peak computed from the nominal clock and an
# assumed number of FMA units was 166 GFLOP/s on this project's machine; measured, 229.
cores=$(nproc)
peak_bin=$(mktemp -d)/fma_peak
trap 'rm -rf "$(dirname "$peak_bin")"' EXIT
"${CXX:-c++}" -O2 -march=native -fopenmp tools/fma_peak.cpp -o "$peak_bin" ||
  die "compiling tools/fma_peak.cpp failed (needs a C++ compiler with OpenMP: apt-get install g++, or set CXX)"
# A spell of shared cores (below) only lowers the rate, so the best of five measurements a
# second apart: one taken in a spell once gave half the peak, and every core check after it
# then passed.
peak_line=
for ((i = 0; i < 5; i++)); do
  line=$(OMP_NUM_THREADS=$cores "$peak_bin") || die "tools/fma_peak.cpp's program failed"
  awk -v a="$(field fma_peak_gflops "$line")" -v b="$(field fma_peak_gflops "$peak_line")" 'BEGIN { exit !(a + 0 > b + 0) }' &&
    peak_line=$line
  sleep 1
done
peak_gflops=$(field fma_peak_gflops "$peak_line")
lanes=$(field lanes "$peak_line")
core_gflops=$(field min_thread_gflops "$peak_line")
peak=$(awk -v g="$peak_gflops" 'BEGIN { printf "%.0f", g * 1e9 }')
[[ $peak -gt 0 ]] || die "no peak in tools/fma_peak.cpp's output: $peak_line"

# This machine's virtual cores are at times two threads of one physical core: each then
# does half its FMA rate, and 2-thread figures (ours and PyTorch's) fall to about 1-thread
# ones. A quick check before and after each pair of measurements (ours, then PyTorch's)
# asks every core for its rate; a pair with a core below 80% of the rate found at the start
# is measured again (at most twice more), after waiting for the cores to come back.
cores_ok() {
  local line
  line=$(OMP_NUM_THREADS=$cores "$peak_bin" --quick) || return 1
  awk -v m="$(field min_thread_gflops "$line")" -v c="$core_gflops" 'BEGIN { exit !(m >= 0.8 * c) }'
}
wait_for_cores() {
  local i
  for ((i = 0; i < 30; i++)); do
    cores_ok && return 0
    sleep 10
  done
  echo "bench_cpu.sh: warning: a core has run below 80% of its FMA rate for 5 minutes; measuring anyway" >&2
}
pairs_again=0

# FLOP per trained character of one layer with G gates, hidden H, vocabulary V: forward
# 2*G*H*H (the recurrent product; the input is a row of the input table, a gather, no
# FLOP) + 2*H*V (the output layer); backward about twice the forward's products (dW and
# dx), so about 3 * (2*G*H*H + 2*H*V) in all. Pointwise work (gates, softmax, Adam) is
# left out, so this is a lower bound.
declare -A gates=([lstm]=4 [rnn]=1 [gru]=3)
flop_per_char() { echo $((3 * (2 * gates[$1] * hidden * hidden + 2 * hidden * $2))); }
# The share of the peak that chars/s at that FLOP per character reach, as a percentage.
peak_share() { awk -v r="$1" -v f="$2" -v p="$peak" 'BEGIN { if (r + 0 > 0) printf "%.1f%%", 100 * r * f / p; else print "n/a" }'; }

train_table="| cell | B | ours chars/s, 1 thr | ours chars/s, 2 thr | ours 2 thr / 1 thr | ours CPU s per M chars, 1 thr / 2 thr | PyTorch chars/s, 1 thr | PyTorch chars/s, 2 thr | PyTorch CPU s per M chars, 1 thr / 2 thr | ours / PyTorch, 1 thr | ours / PyTorch, 2 thr | share of FMA peak, ours 2 thr |
|---|---|---|---|---|---|---|---|---|---|---|---|"
other_table="| cell | ours eval chars/s, B=64 | PyTorch eval chars/s, B=64 | ours / PyTorch | ours sample chars/s, 1 stream | PyTorch, 1 stream | ours / PyTorch | ours sample chars/s, 64 streams | PyTorch, 64 streams | ours / PyTorch |
|---|---|---|---|---|---|---|---|---|---|"
vocab=
flop_note=
# The median of the numbers among the arguments ("n/a" and empty ones skipped), or n/a.
median() {
  printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g |
    awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# Median over the rounds of field KEY in the lines of array NAME for a thread count,
# printed with format F (default %.0f).
over_rounds() {
  local -n lines=$1
  local key=$2 threads=$3 f=${4:-%.0f} r values=()
  for ((r = 1; r <= rounds; r++)); do values+=("$(field "$key" "${lines[$threads,$r]}")"); done
  local m
  m=$(median "${values[@]}")
  [[ $m == n/a ]] && echo n/a || printf "$f\n" "$m"
}
# Median over the rounds of each round's KEY(A lines, thread count TA) / KEY(B lines, TB),
# as "1.23x" (format F, default %.2f).
paired_ratio() {
  local -n a_lines=$1 b_lines=$3
  local key=$5 ta=$2 tb=$4 f=${6:-%.2f} r values=()
  for ((r = 1; r <= rounds; r++)); do
    values+=("$(awk -v a="$(field "$key" "${a_lines[$ta,$r]}")" -v b="$(field "$key" "${b_lines[$tb,$r]}")" \
      'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.6f", a / b; else print "n/a" }')")
  done
  local m
  m=$(median "${values[@]}")
  [[ $m == n/a ]] && echo n/a || printf "$f""x\n" "$m"
}

for cell in "${cells[@]}"; do
  sample_row=
  for batch in "${batches[@]}"; do
    shape=(--cell "$cell" --hidden "$hidden" --batch "$batch" --seq "$seq" --repeats "$repeats" --steps "$steps" --warmup "$warmup")
    declare -A ours=() theirs=()
    for ((round = 1; round <= rounds; round++)); do
      for threads in 1 2; do
        # Sampling rides along the 2-thread runs: 1 stream in B=16's, 64 streams in B=64's.
        ours_sample=(--sample-chars 0); torch_sample=(--sample-chars 0)
        if [[ $threads == 2 && $batch == 16 ]]; then
          ours_sample=(--streams 1 --sample-chars "$ours_sample_1")
          torch_sample=(--sample-streams 1 --sample-chars "$torch_sample_1")
        elif [[ $threads == 2 && $batch == 64 ]]; then
          ours_sample=(--streams 64 --sample-chars "$sample_64")
          torch_sample=(--sample-streams 64 --sample-chars "$sample_64")
        fi
        name="$cell B=$batch, $threads thread(s), round $round of $rounds"
        for attempt in 1 2 3; do
          again=
          [[ $attempt == 1 ]] || again=", again (a core was slow)"
          echo "bench_cpu.sh: $name$again" >&2
          wait_for_cores
          ours[$threads,$round]=$(measure "ours $name" "$bench" --device cpu --threads "$threads" --corpus "$corpus" \
            "${shape[@]}" "${ours_sample[@]}")
          theirs[$threads,$round]=$(measure "PyTorch $name" "$torch_python" tools/torch_reference.py bench \
            --threads "$threads" --train "$corpus" "${shape[@]}" "${torch_sample[@]}")
          cores_ok && break
          [[ $attempt == 3 ]] || pairs_again=$((pairs_again + 1))
        done
      done
    done
    vocab=$(field vocab "${ours[2,1]}")
    flop=$(flop_per_char "$cell" "$vocab")
    o1=$(over_rounds ours train_chars_per_s 1); o2=$(over_rounds ours train_chars_per_s 2)
    t1=$(over_rounds theirs train_chars_per_s 1); t2=$(over_rounds theirs train_chars_per_s 2)
    oc="$(over_rounds ours train_cpu_s_per_mchar 1 %.2f) / $(over_rounds ours train_cpu_s_per_mchar 2 %.2f)"
    oc+=" ($(paired_ratio ours 2 ours 1 train_cpu_s_per_mchar))"
    tc="$(over_rounds theirs train_cpu_s_per_mchar 1 %.2f) / $(over_rounds theirs train_cpu_s_per_mchar 2 %.2f)"
    tc+=" ($(paired_ratio theirs 2 theirs 1 train_cpu_s_per_mchar))"
    train_table+=$'\n'"| $cell | $batch | $o1 | $o2 | $(paired_ratio ours 2 ours 1 train_chars_per_s) | $oc | $t1 | $t2 | $tc"
    train_table+=" | $(paired_ratio ours 1 theirs 1 train_chars_per_s %.1f) | $(paired_ratio ours 2 theirs 2 train_chars_per_s %.1f)"
    train_table+=" | $(peak_share "$o2" "$flop") |"
    os=$(over_rounds ours sample_chars_per_s 2); ts=$(over_rounds theirs sample_chars_per_s 2)
    sample_ratio=$(paired_ratio ours 2 theirs 2 sample_chars_per_s %.1f)
    if [[ $batch == 16 ]]; then
      sample_row="$os | $ts | $sample_ratio"
    else
      oe=$(over_rounds ours eval_chars_per_s 2); te=$(over_rounds theirs eval_chars_per_s 2)
      other_table+=$'\n'"| $cell | $oe | $te | $(paired_ratio ours 2 theirs 2 eval_chars_per_s %.1f) | $sample_row | $os | $ts | $sample_ratio |"
    fi
  done
  flop_note+="${flop_note:+, }$cell $flop"
done

cpu_name=$(lscpu | sed -nE 's/^Model name: *//p' | head -1)
gflops=$(awk -v p="$peak" 'BEGIN { printf "%.1f", p / 1e9 }')
mode=
[[ $quick == 1 ]] && mode=" Quick run (--quick: $steps steps, short sampling): not for comparison."
header="CPU: $cpu_name, $cores cores; PyTorch $torch_version. H=$hidden, T=$seq. FMA peak, measured (tools/fma_peak.cpp: independent $lanes-float FMA chains on all $cores cores): $gflops GFLOP/s; FLOP per trained character, 3·(2·G·H² + 2·H·V) with V=$vocab: $flop_note. $rounds rounds of ours then PyTorch, each program's figure in a round the median of $repeats runs; $pairs_again pairs measured again after a core was found slow; $(date -u +%Y-%m-%d).$mode"
# One paragraph (no blank line): --write replaces up to the end of it.
how="How: \`tools/bench_cpu.sh --write\` runs \`abc_cuda_bench --device cpu --threads N\` (our CPU backend) and \`tools/torch_reference.py bench --threads N\` (the same model in PyTorch: one-hot input into \`nn.LSTM\`/\`nn.RNN\`/\`nn.GRU\`, dropout 0.1, \`nn.Linear\`, cross-entropy, Adam, clipping at 5; N sets both ATen's and OpenBLAS's thread pools) taking turns on the same machine and the same default-corpus text, with N = 1 and 2: per shape, $rounds rounds, each running ours and PyTorch at 1 thread, then both at 2 threads. Each figure is the median over the rounds; each ratio (ours / PyTorch, 2 threads / 1 thread) the median of the rounds' own ratios, so a slow spell of the machine weighs on both sides of a ratio; and a pair of measurements (ours, PyTorch's) is taken again when a check before or after it finds a core below 80% of its FMA rate (tools/fma_peak.cpp --quick: this machine's two virtual cores at times share one physical core). Training chars/s: forward + backward + clipping + Adam over B×T characters per step, $warmup warm-up steps excluded, in a round the median of $repeats repeats of $steps steps. CPU s per M chars: the process's user + sys CPU time (all its threads; getrusage in ours, \`time.process_time()\` in PyTorch) per million trained characters, median over the repeats; the factor in brackets is 2 threads' over 1 thread's. Share of FMA peak: the FLOP per trained character above (the products only: pointwise work is left out) times ours chars/s with 2 threads, over the measured peak in the header. Evaluation chars/s (2 threads, B=64): forward only, no dropout, state carried, the loss summed and read back per chunk, $steps chunks per repeat. Sampling chars/s (2 threads): 1 or 64 streams, one character each per step, temperature 0.8 ($ours_sample_1 steps for ours with 1 stream, $torch_sample_1 for PyTorch, $sample_64 with 64 streams)."
echo "$header"
echo
echo "$train_table"
echo
echo "$other_table"
echo
echo "$how"
if [[ $write == 1 ]]; then
  python3 - "$header" "$train_table" "$other_table" "$how" <<'PY'
import sys, re, pathlib, textwrap
path = pathlib.Path("BENCHMARKS.md")
text = path.read_text() if path.exists() else "# Benchmarks\n"
title = "## CPU: training and sampling, ours vs PyTorch"
header, train, other, how = sys.argv[1:5]
assert "\n\n" not in how, "the How paragraph must stay one paragraph: --write finds its end by the blank line"
wrap = lambda p: textwrap.fill(p, 92, break_long_words=False, break_on_hyphens=False)
section = "\n\n".join([title, wrap(header), train, other, wrap(how)])
# From the heading through the "How:" paragraph (not past the next "## "): the notes after it stay.
body = r"(?:(?!\n## ).)*?"
with_how = re.compile(re.escape(title) + r"\n" + body + r"\nHow:" + body + r"(?=\n\n|\n## |\Z)", re.S)
without_how = re.compile(re.escape(title) + r"\n" + body + r"(?=\n+## |\n*\Z)", re.S)
for pattern in (with_how, without_how):
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text, count=1)
        break
else:
    text = text.rstrip("\n") + "\n\n" + section
path.write_text(text.rstrip("\n") + "\n")
PY
  echo "bench_cpu.sh: wrote $root/BENCHMARKS.md"
fi
