#!/usr/bin/env bash
# End to end through the programs: train 1 epoch on tests/data, sample 3 tunes from
# the run folder, and check that bad input gets a one-line error and the documented
# exit code. Usage: e2e_cli.sh BUILD_DIR TEST_DATA_DIR
set -euo pipefail
bin=$1
data=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export ABC_CUDA_RUNS=$work/runs
fail() { echo "e2e: FAIL: $*" >&2; exit 1; }

# expect_error CODE TEXT command...: the command exits CODE and stderr mentions TEXT.
expect_error() {
  local code=$1 text=$2
  shift 2
  local rc=0
  "$@" >"$work/out" 2>"$work/err" || rc=$?
  [[ $rc == "$code" ]] || fail "$* exited $rc, expected $code: $(cat "$work/err")"
  grep -qF -- "$text" "$work/err" || fail "$* did not say '$text': $(cat "$work/err")"
}

"$bin/abc_cuda_train" --hidden 16 --epochs 1 --data "$data/tunes.abc" "$data/tagged_crlf.txt" \
  --out "$work/runs/run1" 2>"$work/train.log" || { cat "$work/train.log"; fail "training failed"; }
for f in config.txt metrics.csv best.ckpt last.ckpt; do
  [[ -s $work/runs/run1/$f ]] || fail "run folder lacks $f"
done
[[ $(readlink "$work/runs/latest") == run1 ]] || fail "runs/latest does not point at run1"
[[ $(wc -l <"$work/runs/run1/metrics.csv") == 2 ]] || fail "metrics.csv should have a header and one epoch"
grep -q "val .* nats/char" "$work/train.log" || fail "no validation loss in the log"

"$bin/abc_cuda_sample" --n 3 --checkpoint "$work/runs/run1" --max-len 300 >"$work/tunes.abc" 2>"$work/sample.log"
[[ $(grep -c '^X:' "$work/tunes.abc") -ge 3 ]] || fail "fewer than 3 X: lines in the sample"
grep -q "chars/s" "$work/sample.log" || fail "no throughput on stderr"
# The default checkpoint is runs/latest.
"$bin/abc_cuda_sample" --n 1 --max-len 50 >/dev/null 2>&1 || fail "sampling from runs/latest failed"

expect_error 1 "cannot open checkpoint" "$bin/abc_cuda_sample" --checkpoint "$work/none.ckpt"
head -c 100 "$work/runs/run1/best.ckpt" >"$work/cut.ckpt"
expect_error 1 "truncated checkpoint" "$bin/abc_cuda_sample" --checkpoint "$work/cut.ckpt"
expect_error 1 "not an abc-cuda checkpoint" "$bin/abc_cuda_sample" --checkpoint "$data/tunes.abc"
expect_error 2 "not in the model's vocabulary" "$bin/abc_cuda_sample" --checkpoint "$work/runs/run1" --prime '<start>@'
expect_error 2 "--dropout" "$bin/abc_cuda_train" --hidden 8 --dropout 1.5
expect_error 2 "--hidden" "$bin/abc_cuda_train" --hidden 0
expect_error 2 "--n" "$bin/abc_cuda_sample" --n 0
expect_error 2 "--backend cudnn runs on a GPU" "$bin/abc_cuda_train" --hidden 8 --device cpu --backend cudnn \
  --data "$data/tunes.abc" --out "$work/runs/cudnn"
[[ ! -e $work/runs/cudnn ]] || fail "a refused --backend cudnn run left a folder behind"
expect_error 1 "binary data" "$bin/abc_cuda_corpus" "$data/binary.abc" --out "$work/c"
expect_error 1 "empty file" "$bin/abc_cuda_corpus" "$data/empty.abc" --out "$work/c"
expect_error 1 "no such file" "$bin/abc_cuda_corpus" "$work/missing.abc" --out "$work/c"
echo "e2e: all checks passed"
