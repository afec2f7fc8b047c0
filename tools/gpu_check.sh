#!/usr/bin/env bash
# The one prepared GPU check, for a borrowed H100/H200: about 8 minutes at most. With a GPU
# bundle from tools/gpu_bundle.sh it runs, each in its own process and under its own time
# limit, the GPU test suites (ABC_REQUIRE_GPU=1), then compute-sanitizer memcheck and
# racecheck on one small case each, then a short benchmark (ours vs our cuDNN backend vs
# PyTorch: LSTM H=100 B=64 T=100 training, sampling with 64 streams), then the kernel lab
# (dev/kernels: every kernel version checked against the CPU and timed).
#   tools/gpu_check.sh [--bundle DIR] [--out DIR] [--budget SECONDS] [--steps LIST]
#   --bundle   the bundle (default build-gpu-bundle/bundle, or env GPU_BUNDLE)
#   --out      the results folder (default $OUT if set, else build-gpu-check); 6 files:
#                summary.md       result, seconds and limit per step, the GPU, the bench row
#                tests.log        all output of the preflight, the suites and the bench
#                sanitizer.log    compute-sanitizer's output
#                cudnn_report.md  worst errors of ours vs cuDNN (ABC_CUDNN_REPORT)
#                bench.md         the table of tools/bench_gpu.sh --check
#                kernel_lab.log   the kernel lab programs' checks and timings
#   --budget   seconds for all steps together (default 450); a step is killed at its own
#              limit, or sooner when the rest of the budget is owed to the steps after it
#   --steps    a comma-separated subset of: ops persistent cuda cudnn-compare cudnn-backend
#              cuda-loop cuda-nographs other memcheck racecheck bench lab (default: all)
# Environment: GPU_BUNDLE, OUT, TORCH_PYTHON (default python3), COMPUTE_SANITIZER (its path
# when it is not on PATH, under /usr/local/cuda* or /opt/nvidia, or in the bundle's sanitizer/).
# Exit code: 0 when every step ran and passed (a step skipped with its reason counts: a
# sanitizer the tool refuses, the lab with a bundle older than it), 1 otherwise, 2 on a
# usage error. summary.md is written after every step. Without a usable GPU the check stops
# after the preflight, in a second or two.
set -uo pipefail  # no -e: a failing step is recorded and the check goes on
root=$(cd "$(dirname "$0")/.." && pwd)
bundle=${GPU_BUNDLE:-$root/build-gpu-bundle/bundle}
out=${OUT:-$root/build-gpu-check}
budget=450
only=
usage_error() { echo "gpu_check.sh: $* (try --help)" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case $1 in
    --bundle|--out|--budget|--steps) [[ -n ${2:-} ]] || usage_error "$1 needs a value" ;;&
    --bundle) bundle=$2; shift ;;
    --out) out=$2; shift ;;
    --budget) budget=$2; shift ;;
    --steps) only=$2; shift ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) usage_error "unknown option '$1'" ;;
  esac
  shift
done
[[ $budget =~ ^[0-9]+$ ]] || usage_error "--budget wants whole seconds, not '$budget'"
torch_python=${TORCH_PYTHON:-python3}

# The steps in order: name, time limit and the least time kept for it (seconds), what it runs.
steps=(ops persistent cuda cudnn-compare cudnn-backend cuda-loop cuda-nographs other memcheck racecheck bench lab)
declare -A limit=([ops]=60 [persistent]=90 [cuda]=120 [cudnn-compare]=120 [cudnn-backend]=90 [cuda-loop]=120
  [cuda-nographs]=120 [other]=60 [memcheck]=120 [racecheck]=120 [bench]=150 [lab]=120)
declare -A least=([ops]=20 [persistent]=20 [cuda]=30 [cudnn-compare]=30 [cudnn-backend]=20 [cuda-loop]=30
  [cuda-nographs]=30 [other]=15 [memcheck]=30 [racecheck]=30 [bench]=60 [lab]=30)
cuda_filter='*CudaVsCpu.*/cuda_*:CudaBackend.*'
declare -A filter=([ops]='CudaOps.*' [persistent]='*PersistentRecurrence*' [cuda]=$cuda_filter
  [cudnn-compare]='*OursVsCudnn*' [cudnn-backend]='*CudaVsCpu.*/cudnn_*' [cuda-loop]=$cuda_filter
  [cuda-nographs]=$cuda_filter
  [other]='*-CudaOps.*:*PersistentRecurrence*:*CudaVsCpu.*:CudaBackend.*:*OursVsCudnn*'
  [memcheck]='*CudaVsCpu.OneTrainingStep/cuda_lstm_2layers_dropout'
  [racecheck]='*PersistentRecurrence.NullDh0LeavesItAndChangesNothingElse/*')
declare -A what=([cuda-loop]='ABC_RECURRENCE=loop' [cuda-nographs]='ABC_CUDA_GRAPHS=0'
  [bench]='tools/bench_gpu.sh --check' [lab]='bin/lab_* (dev/kernels), into kernel_lab.log')
declare -A selected
if [[ -z $only ]]; then
  for s in "${steps[@]}"; do selected[$s]=1; done
else
  IFS=, read -ra picked <<<"$only"
  for s in "${picked[@]}"; do
    [[ -n ${limit[$s]:-} ]] || usage_error "no step '$s' (steps: ${steps[*]})"
    selected[$s]=1
  done
fi
need=0
for s in "${!selected[@]}"; do need=$((need + least[$s])); done
((budget >= need)) || usage_error "--budget $budget is less than the $need s the selected steps need at least"

mkdir -p "$out" || usage_error "cannot make the output folder $out"
out=$(cd "$out" && pwd)
summary=$out/summary.md log=$out/tests.log sanlog=$out/sanitizer.log report=$out/cudnn_report.md bench_md=$out/bench.md
lablog=$out/kernel_lab.log
# Only our own files go: --out may name a folder holding other things.
rm -f "$summary" "$log" "$sanlog" "$report" "$bench_md" "$lablog"
work=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
t0=$(now)
deadline=$(awk -v a="$t0" -v b="$budget" 'BEGIN { printf "%.3f", a + b }')
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
gpu="not known yet"
declare -A result note secs lim
current=

write_summary() {
  local verdict=$1 s
  {
    echo "# GPU check: $verdict"
    echo
    echo "- GPU: $gpu"
    echo "- bundle: $bundle ($(grep -m1 '^commit:' "$bundle/BUILD_INFO.txt" 2>/dev/null || echo 'no BUILD_INFO.txt'))"
    echo "- host: $(uname -n), started $started, $(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }') s of a $budget s budget"
    echo
    echo "| step | result | seconds | limit s | what | note |"
    echo "|---|---|---|---|---|---|"
    for s in preflight "${steps[@]}"; do
      local w=${what[$s]:-}
      [[ -n ${filter[$s]:-} ]] && w="--gtest_filter=${filter[$s]}${w:+ with $w}"
      [[ $s == memcheck || $s == racecheck ]] && w="compute-sanitizer --tool $s, ${w}"
      [[ $s == preflight ]] && w="run.sh --no-tests: libraries, nvidia-smi, abc_cuda_device"
      local n=${note[$s]:-}
      echo "| $s | ${result[$s]:-not run} | ${secs[$s]:-} | ${lim[$s]:-} | \`$w\` | ${n//|//} |"
    done
    echo
    echo "Files: tests.log (all output but the sanitizers' and the lab's), sanitizer.log, cudnn_report.md (ours vs" \
      "cuDNN, worst errors), bench.md (tools/bench_gpu.sh --check), kernel_lab.log (the kernel lab)."
    if [[ -s $bench_md ]]; then
      echo
      echo "Benchmark (bench.md):"
      echo
      grep '^|' "$bench_md"
    fi
  } >"$summary"
}

# Ends the check: the summary, one line on stdout, the exit code.
finish() {
  local verdict=PASS s
  for s in preflight "${steps[@]}"; do
    [[ $s == preflight || -n ${selected[$s]:-} ]] || { result[$s]="not selected"; continue; }
    case ${result[$s]:-not run} in PASS|SKIP*) ;; *) verdict=FAIL ;; esac
  done
  write_summary "$verdict"
  echo "gpu_check.sh: $verdict; results in $out (summary.md)"
  [[ $verdict == PASS ]]
  exit $?
}
# Killed from outside (the device run's own limit): stop the step's process, keep the summary.
trap 'echo "gpu_check.sh: interrupted during ${current:-setup}" >&2; [[ -n ${child:-} ]] && kill "$child" 2>/dev/null
  note[${current:-preflight}]="interrupted"; finish' INT TERM

# Seconds a step may run: its own limit, less what the selected steps after it are owed.
time_for() {
  local step=$1 owed=0 after=0 s
  for s in "${steps[@]}"; do
    [[ $s == "$step" ]] && { after=1; continue; }
    [[ $after == 1 && -n ${selected[$s]:-} ]] && owed=$((owed + least[$s]))
  done
  awk -v d="$deadline" -v n="$(now)" -v o="$owed" -v l="${limit[$step]}" \
    'BEGIN { t = int(d - n - o); if (t > l) t = l; print (t < 0 ? 0 : t) }'
}

# Runs one command under `timeout`, its output appended to LOG; sets rc, took and part
# (a file with just this step's output).
run_limited() {
  local step=$1 t=$2 logfile=$3 start offset
  shift 3
  offset=$(stat -c %s "$logfile" 2>/dev/null || echo 0)
  echo "== $step ($(date -u +%H:%M:%S), limit $t s): $*" >>"$logfile"
  start=$(now)
  rc=0
  # In the background, so that a signal to this script is handled at once (see the trap).
  timeout -k 10 "$t" "$@" </dev/null >>"$logfile" 2>&1 &
  child=$!
  wait "$child" || rc=$?
  child=
  took=$(awk -v a="$start" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
  echo "== $step: exit code $rc after $took s" >>"$logfile"
  part=$work/$step.out
  tail -c +"$((offset + 1))" "$logfile" >"$part"
}

# What gtest said: counts, and the failed or hung test's name.
gtest_verdict() {
  local step=$1 ran passed skipped failed nfailed last
  ran=$(sed -n 's/^\[==========\] \([0-9]*\) tests\{0,1\} from .* ran\..*/\1/p' "$part" | tail -1)
  passed=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$part" | tail -1)
  skipped=$(sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' "$part" | tail -1)
  nfailed=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) tests\{0,1\}, listed below:/\1/p' "$part" | tail -1)
  # The names (the list at the end; tests.log has them all).
  failed=$(sed -n 's/^\[  FAILED  \] \([^ ,]*\)\(, where.*\)\{0,1\}$/\1/p' "$part" | awk '!seen[$0]++' | head -4 | paste -sd ' ' -)
  last=$(grep -o '^\[ RUN      \] .*' "$part" | tail -1 | cut -c14-)
  if [[ $rc == 124 || $rc == 137 ]]; then
    result[$step]=TIMEOUT
    note[$step]="killed at its limit; last test started: ${last:-none}"
  elif [[ $rc != 0 ]]; then
    result[$step]=FAIL
    note[$step]=${failed:+"$nfailed of $ran failed: $failed"}
    ((${nfailed:-0} > 4)) && note[$step]+=" ..."
    [[ -z $failed ]] && note[$step]="exit code $rc with no failed test named (crashed in ${last:-startup}?)"
  elif [[ -z $ran || $ran == 0 ]]; then
    result[$step]=FAIL
    note[$step]="the filter matched no test"
  else
    result[$step]=PASS
    note[$step]="${passed:-0} passed${skipped:+, $skipped skipped}"
  fi
}

announce() {  # one line per step on stdout: a device run's output tail shows the progress
  echo "gpu_check.sh: $1: ${result[$1]} (${secs[$1]:-0} s) ${note[$1]:-}"
}

# Runs step STEP if selected and time is left; the command comes from the caller's function.
start_step() {
  current=$1
  [[ -n ${selected[$1]:-} ]] || return 1
  local t
  t=$(time_for "$1")
  lim[$1]=$t
  if ((t < 5)); then
    result[$1]="NOT RUN"
    note[$1]="the budget ($budget s) ran out"
    announce "$1"
    write_summary "running"
    return 1
  fi
  step_time=$t
}
end_step() {
  secs[$1]=$took
  announce "$1"
  write_summary "running"
}

# --- the bundle -----------------------------------------------------------------------
missing=
for f in bin/abc_gpu_tests bin/abc_cuda_device bin/abc_cuda_bench run.sh; do
  [[ -x $bundle/$f ]] || missing+=" $f"
done
if [[ -n $missing ]]; then
  result[preflight]=FAIL
  note[preflight]="no GPU bundle at $bundle (missing:$missing)"
  # On a machine without a GPU (CI, a build machine) that is the first thing to say.
  if ! smi=$(timeout 20 nvidia-smi -L 2>&1); then
    note[preflight]="no GPU here (nvidia-smi: ${smi:-not found}) and no bundle"
    echo "gpu_check.sh: no GPU here (nvidia-smi: $(head -1 <<<"${smi:-not found}")): this check runs on a GPU" \
      "machine; nothing was tested. There: build the bundle first (tools/gpu_bundle.sh, here or anywhere) and" \
      "carry build-gpu-bundle/bundle along" >&2
    finish
  fi
  echo "gpu_check.sh: no GPU bundle at $bundle (missing:$missing): build it first: tools/gpu_bundle.sh" \
    "(then carry build-gpu-bundle/bundle along), or name one with --bundle DIR or GPU_BUNDLE" >&2
  finish
fi
bundle=$(cd "$bundle" && pwd)

# --- preflight: the bundle's run.sh finds cuBLAS/cuDNN, checks ldd, runs abc_cuda_device ---
current=preflight
lim[preflight]=60
run_limited preflight 60 "$log" "$bundle/run.sh" --no-tests
secs[preflight]=$took
gpu=$(timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1) || gpu=
probe=$(grep -m1 -E '^(GPU usable|no usable GPU): ' "$part")
if [[ -n $gpu ]]; then
  gpu="$gpu (nvidia-smi: name, driver, memory)"
else
  gpu="${probe:-unknown} (no answer from nvidia-smi)"
fi
libs=$(sed -n 's/^run\.sh: LD_LIBRARY_PATH=//p' "$part" | tail -1)
if [[ $rc != 0 || $probe != "GPU usable: "* ]]; then
  result[preflight]=FAIL
  libs_missing=$(grep -E '^run\.sh: error: ' "$part" | head -2 | sed 's/^run\.sh: error: //' | paste -sd ';' -)
  if [[ $probe == "no usable GPU: "* ]]; then
    why="abc_cuda_device: ${probe#no usable GPU: }"
    smi=$(grep -m1 'nvidia-smi failed or is missing' "$part") && why+="; ${smi#run.sh: }"
    message="no usable GPU here ($why): run it on a GPU machine"
  elif [[ -n $libs_missing ]]; then
    why="the bundle's libraries do not resolve: $libs_missing"
    message=$why
  elif [[ $rc == 124 || $rc == 137 ]]; then
    why="run.sh --no-tests did not finish in 60 s"
    message="the preflight hung: $why (tests.log shows where)"
  else
    why="run.sh --no-tests exited with $rc before abc_cuda_device answered"
    message="the preflight failed: $why (tests.log has its output)"
  fi
  note[preflight]=$why
  for s in "${steps[@]}"; do [[ -n ${selected[$s]:-} ]] && note[$s]="the preflight failed"; done
  echo "gpu_check.sh: $message; nothing was tested" >&2
  finish
fi
result[preflight]=PASS
note[preflight]=$probe
announce preflight
[[ -n $libs ]] && export LD_LIBRARY_PATH=$libs
export ABC_CUDA_DATA=${ABC_CUDA_DATA:-$bundle/data}
export ABC_TEST_DATA_DIR=${ABC_TEST_DATA_DIR:-$bundle/tests/data}
export ABC_REQUIRE_GPU=1
write_summary "running"

# --- the test suites, one process each ------------------------------------------------
suite() {  # STEP [VAR=VALUE ...]
  local step=$1
  shift
  start_step "$step" || return 0
  run_limited "$step" "$step_time" "$log" env "$@" "$bundle/bin/abc_gpu_tests" --gtest_filter="${filter[$step]}"
  gtest_verdict "$step"
  end_step "$step"
}
suite ops
suite persistent
suite cuda
suite cudnn-compare ABC_CUDNN_REPORT="$report"
[[ ${result[cudnn-compare]:-} == PASS && ! -s $report ]] && note[cudnn-compare]+="; but it wrote no cudnn_report.md"
suite cudnn-backend
suite cuda-loop ABC_RECURRENCE=loop
suite cuda-nographs ABC_CUDA_GRAPHS=0
suite other

# --- compute-sanitizer ------------------------------------------------------------------
find_sanitizer() {
  local c d
  shopt -s nullglob
  local candidates=("${COMPUTE_SANITIZER:-}" "$(command -v compute-sanitizer 2>/dev/null)"
    /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer
    /usr/local/cuda-*/bin/compute-sanitizer /usr/local/cuda-*/compute-sanitizer/compute-sanitizer
    /opt/nvidia/*/compute-sanitizer/compute-sanitizer "$bundle/sanitizer/compute-sanitizer")
  # The pip wheel nvidia-cuda-sanitizer-api, if the local Python has it.
  while read -r d; do
    candidates+=("$d"/nvidia/*/bin/compute-sanitizer "$d"/nvidia/cuda_sanitizer_api/compute-sanitizer/compute-sanitizer)
  done < <("$torch_python" -c 'import sys; print("\n".join(p for p in sys.path if p.endswith("-packages")))' 2>/dev/null)
  shopt -u nullglob
  for c in "${candidates[@]}"; do
    [[ -n $c && -x $c ]] && { echo "$c"; return 0; }
  done
  return 1
}
sanitizer() {  # STEP (memcheck or racecheck)
  local step=$1 found errors
  start_step "$step" || return 0
  if [[ -z $san ]]; then
    result[$step]="SKIP"
    note[$step]=$san_why
    took=0
    end_step "$step"
    return 0
  fi
  run_limited "$step" "$step_time" "$sanlog" "$san" --tool "$step" --error-exitcode 86 --print-limit 50 \
    "$bundle/bin/abc_gpu_tests" --gtest_filter="${filter[$step]}"
  gtest_verdict "$step"
  errors=$(grep -m1 -E '(ERROR|RACECHECK) SUMMARY: ' "$part" | sed 's/^========= //')
  if found=$(grep -m1 -iE 'device not supported|not supported on this (device|platform)' "$part"); then
    # Seen on gVisor machines: the tool refuses the device, so nothing was checked.
    result[$step]="SKIP"
    note[$step]="compute-sanitizer cannot instrument this GPU or runtime: ${found#========= }"
  elif [[ $rc == 86 ]]; then
    result[$step]=FAIL
    note[$step]="$step found errors: ${errors:-see sanitizer.log}"
  elif [[ ${result[$step]} == FAIL && ${note[$step]} == "exit code "* ]] &&
    found=$(grep -m1 '^========= Error: ' "$part"); then
    note[$step]="compute-sanitizer ${found#========= }, exit code $rc"
  elif [[ ${result[$step]} == PASS ]]; then
    note[$step]="${errors:-no summary line}; ${note[$step]}"
  fi
  end_step "$step"
}
san=""
san_why=""
if [[ -z ${selected[memcheck]:-}${selected[racecheck]:-} ]]; then
  :  # neither sanitizer step selected: no need to look for the tool
elif ! san=$(find_sanitizer); then
  san=
  san_why="compute-sanitizer not found (PATH, /usr/local/cuda*, /opt/nvidia, the bundle's sanitizer/, $torch_python's nvidia wheels; set COMPUTE_SANITIZER)"
  [[ -n ${COMPUTE_SANITIZER:-} ]] && san_why+="; COMPUTE_SANITIZER=$COMPUTE_SANITIZER is no executable"
elif ! san_version=$(timeout 30 "$san" --version 2>&1 | grep -m1 -i version); then
  san_why="$san --version failed: $(timeout 30 "$san" --version 2>&1 | tail -1)"
  san=
else
  echo "== compute-sanitizer: $san ($san_version)" >>"$sanlog"
fi
sanitizer memcheck
sanitizer racecheck

# --- the benchmark ----------------------------------------------------------------------
bench() {
  start_step bench || return 0
  local row fields
  # The bundle's corpus, else a synthetic one: the test tunes, repeated (numbers labelled).
  local corpus=${CORPUS:-$bundle/data/corpus/train.txt} corpus_note=
  if [[ ! -f $corpus ]]; then
    corpus=$work/train.txt
    local tunes
    tunes=$(awk '/^X:/ { if (n++) print "<end>"; print "<start>" } n && NF { print } END { if (n) print "<end>" }' \
      "$bundle/tests/data/tunes.abc")
    for _ in $(seq 400); do echo "$tunes"; done >"$corpus"
    corpus_note="; synthetic corpus (tests/data/tunes.abc x 400: the bundle has none)"
  fi
  # bench_gpu.sh imports torch once (seconds), then runs three measurements one after the other.
  local row_timeout=$(((step_time - 30) / 3))
  ((row_timeout < 10)) && row_timeout=10
  # shellcheck disable=SC2016  # $1 and $2 are bash -c's arguments: the table goes to bench.md
  run_limited bench "$step_time" "$log" env BUILD_DIR="$bundle" CORPUS="$corpus" TORCH_PYTHON="$torch_python" \
    ROW_TIMEOUT="$row_timeout" bash -c '"$1" --check >"$2"' _ "$root/tools/bench_gpu.sh" "$bench_md"
  row=$(grep -m1 '^| lstm | 100 | 64 |' "$bench_md" 2>/dev/null)
  # | cell | H | B | ours train | cuDNN train | PyTorch train | ratio | ratio | ours sample | PyTorch sample | ratio |
  IFS='|' read -ra fields <<<"${row// /}"
  if [[ $rc == 124 || $rc == 137 ]]; then
    result[bench]=TIMEOUT
    note[bench]="killed at its limit"
  elif [[ $rc != 0 || -z $row ]]; then
    result[bench]=FAIL
    note[bench]="bench_gpu.sh exited with $rc: $(grep -m1 '^bench_gpu.sh: .*: n/a\|^bench_gpu.sh: no ' "$part")"
  elif [[ ${fields[4]:-n/a} == n/a || ${fields[5]:-n/a} == n/a || ${fields[9]:-n/a} == n/a ]]; then
    result[bench]=FAIL
    note[bench]="ours or the cuDNN backend gave no number: $(grep '^bench_gpu.sh: .*: n/a' "$part" | head -2 | paste -sd ';' -)"
  else
    result[bench]=PASS
    note[bench]="train chars/s ours ${fields[4]:-n/a}, cuDNN ${fields[5]:-n/a}, PyTorch ${fields[6]:-n/a}; sample ours ${fields[9]:-n/a}, PyTorch ${fields[10]:-n/a}"
  fi
  note[bench]+=$corpus_note
  end_step bench
}
bench

# --- the kernel lab (dev/kernels) ------------------------------------------------------------
# Each program in its own process under its own share of the step's time, so one that fails
# or hangs leaves the others their run. A bundle built before the lab existed: SKIP.
kernel_lab() {
  start_step lab || return 0
  local p t total=0 failed='' missing='' line
  local programs=(lab_lstm_pointwise lab_rnn_pointwise lab_persistent_recurrence)
  local -A share=([lab_lstm_pointwise]=4 [lab_rnn_pointwise]=4 [lab_persistent_recurrence]=2)  # 1/4, 1/4, 1/2
  for p in "${programs[@]}"; do [[ -x $bundle/bin/$p ]] || missing+=" $p"; done
  if [[ -n $missing ]]; then
    result[lab]=SKIP
    note[lab]="the bundle has no kernel lab (missing:$missing): rebuild it with tools/gpu_bundle.sh"
    took=0
    end_step lab
    return 0
  fi
  for p in "${programs[@]}"; do
    t=$((step_time / share[$p]))
    run_limited lab "$((t < 5 ? 5 : t))" "$lablog" "$bundle/bin/$p"
    total=$(awk -v a="$total" -v b="$took" 'BEGIN { printf "%.1f", a + b }')
    if [[ $rc != 0 ]]; then
      line=$(grep -m1 -E '^(no usable GPU: |lab_[a-z_]+: ([0-9]+ of [0-9]+ checks FAILED|error: ))' "$part")
      [[ $rc == 124 || $rc == 137 ]] && line="killed at its limit"
      failed+="${failed:+; }$p exit $rc${line:+: $line}"
    fi
  done
  took=$total
  if [[ -n $failed ]]; then
    result[lab]=FAIL
    note[lab]=$failed
  else
    result[lab]=PASS
    note[lab]="every check passed; the times are in kernel_lab.log"
  fi
  end_step lab
}
kernel_lab
current=
finish
