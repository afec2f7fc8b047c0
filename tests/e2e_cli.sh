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

# The lr column and a step schedule: 2 epochs, decaying from the first (lr 0.003 * 0.5^e).
"$bin/abc_cuda_train" --hidden 8 --epochs 2 --lr-schedule step --decay-after 0 --lr-decay 0.5 --patience 3 \
  --data "$data/tunes.abc" --out "$work/runs/step" 2>"$work/step.log" || { cat "$work/step.log"; fail "step schedule run failed"; }
[[ $(head -1 "$work/runs/step/metrics.csv") == epoch,train_loss,val_loss,chars_per_s,seconds,lr ]] ||
  fail "metrics.csv header lacks the lr column: $(head -1 "$work/runs/step/metrics.csv")"
[[ $(cut -d, -f6 "$work/runs/step/metrics.csv" | tail -n +2 | tr '\n' ' ') == "0.0015 0.00075 " ]] ||
  fail "step schedule lr per epoch: $(cut -d, -f6 "$work/runs/step/metrics.csv" | tr '\n' ' ')"
grep -qx "lr_schedule=step" "$work/runs/step/config.txt" || fail "config.txt lacks lr_schedule=step"
grep -qx "lr_by_epoch=0.0015 0.00075" "$work/runs/step/config.txt" || fail "config.txt lacks the lr of each epoch"
grep -qx "patience=3" "$work/runs/step/config.txt" || fail "config.txt lacks patience=3"
grep -q "lr 0.00075" "$work/step.log" || fail "the epoch line does not show the lr"

# Fine-tuning: the model's shape from run1 (--hidden 16), the rest from the flags.
"$bin/abc_cuda_train" --init-from "$work/runs/run1" --data "$data/tagged_crlf.txt" --epochs 1 --dropout 0.2 \
  --out "$work/runs/ft" 2>"$work/ft.log" || { cat "$work/ft.log"; fail "fine-tuning failed"; }
grep -q "fine-tuning from .*run1/best.ckpt" "$work/ft.log" || fail "no fine-tuning line: $(cat "$work/ft.log")"
grep -qx "hidden=16" "$work/runs/ft/config.txt" || fail "the fine-tuned run did not take hidden=16 from the checkpoint"
grep -qx "dropout=0.2" "$work/runs/ft/config.txt" || fail "the fine-tuned run did not take --dropout 0.2"
grep -qx "init_from=$work/runs/run1/best.ckpt" "$work/runs/ft/config.txt" || fail "config.txt lacks init_from"
"$bin/abc_cuda_train" --init-from "$work/runs/run1/last.ckpt" --hidden 16 --cell lstm --layers 1 --epochs 1 \
  --data "$data/tunes.abc" --out "$work/runs/ft_same" 2>"$work/ft_same.log" ||
  fail "--init-from with the checkpoint's own --hidden/--cell/--layers was refused: $(cat "$work/ft_same.log")"

# Bad schedule, patience and fine-tuning flags: usage errors (2), a non-checkpoint 1; no folder left behind.
expect_error 2 "--lr-schedule" "$bin/abc_cuda_train" --hidden 8 --lr-schedule linear
expect_error 2 "--patience" "$bin/abc_cuda_train" --hidden 8 --patience -1
expect_error 2 "--lr-decay: Value 1.5 not in (0, 1]" "$bin/abc_cuda_train" --hidden 8 --lr-schedule step --lr-decay 1.5
expect_error 2 "--lr-decay: Value 0 not in (0, 1]" "$bin/abc_cuda_train" --hidden 8 --lr-schedule step --lr-decay 0
expect_error 2 "--lr-decay applies to --lr-schedule step only" "$bin/abc_cuda_train" --hidden 8 --lr-decay 0.5
expect_error 2 "drop --lr-schedule" "$bin/abc_cuda_train" --resume "$work/runs/run1" --lr-schedule cosine
expect_error 1 "--init-from $data/tunes.abc: not an abc-cuda checkpoint" "$bin/abc_cuda_train" \
  --init-from "$data/tunes.abc" --data "$data/tunes.abc" --out "$work/runs/bad_init"
[[ ! -e $work/runs/bad_init ]] || fail "--init-from a non-checkpoint left a folder behind"
expect_error 2 "--hidden 50 contradicts the checkpoint's hidden size 16" "$bin/abc_cuda_train" \
  --init-from "$work/runs/run1" --hidden 50 --data "$data/tunes.abc" --out "$work/runs/bad_hidden"
[[ ! -e $work/runs/bad_hidden ]] || fail "--init-from with a contradicting --hidden left a folder behind"
expect_error 2 "--cell rnn contradicts the checkpoint's cell lstm" "$bin/abc_cuda_train" \
  --init-from "$work/runs/run1" --cell rnn --data "$data/tunes.abc" --out "$work/runs/bad_cell"
expect_error 2 "--resume continues a run" "$bin/abc_cuda_train" --init-from "$work/runs/run1" --resume "$work/runs/ft"
[[ $(wc -l <"$work/err") == 1 ]] || fail "the --init-from/--resume error is not one line: $(cat "$work/err")"
# --patience goes with --resume (it may change the run's); the finished run has nothing left to train.
"$bin/abc_cuda_train" --resume "$work/runs/step" --patience 0 2>"$work/resume.log" ||
  fail "--resume with --patience failed: $(cat "$work/resume.log")"

expect_error 1 "cannot open checkpoint" "$bin/abc_cuda_sample" --checkpoint "$work/none.ckpt"
head -c 100 "$work/runs/run1/best.ckpt" >"$work/cut.ckpt"
expect_error 1 "truncated checkpoint" "$bin/abc_cuda_sample" --checkpoint "$work/cut.ckpt"
expect_error 1 "not an abc-cuda checkpoint" "$bin/abc_cuda_sample" --checkpoint "$data/tunes.abc"
expect_error 2 "not in the model's vocabulary" "$bin/abc_cuda_sample" --checkpoint "$work/runs/run1" --prime '<start>@'
expect_error 2 "--dropout" "$bin/abc_cuda_train" --hidden 8 --dropout 1.5
expect_error 2 "--hidden" "$bin/abc_cuda_train" --hidden 0
expect_error 2 "--n" "$bin/abc_cuda_sample" --n 0

# Steering and the grammar through the command line: the header asked for, the first bars
# continued, bad values refused with exit 2 naming the flag, --no-grammar accepted.
"$bin/abc_cuda_sample" --checkpoint "$work/runs/run1" --n 2 --tags --meter 6/8 --key D --bars '|:A2B c2d|' \
  --max-len 400 >"$work/steered.abc" 2>"$work/steer.log" || { cat "$work/steer.log"; fail "steered sampling failed"; }
[[ $(grep -c '^M:6/8$' "$work/steered.abc") == 2 && $(grep -c '^K:D$' "$work/steered.abc") == 2 ]] ||
  fail "steered tunes lack M:6/8 and K:D: $(cat "$work/steered.abc")"
[[ $(grep -c '^|:A2B c2d|' "$work/steered.abc") == 2 ]] || fail "steered tunes do not start with the bars"
printf 'X:1\nM:4/4\nL:1/8\nK:G\nGABc ' >"$work/prime.abc"
"$bin/abc_cuda_sample" --checkpoint "$work/runs/run1" --n 1 --prime-file "$work/prime.abc" --max-len 200 \
  >"$work/primed.abc" 2>/dev/null || fail "--prime-file failed"
grep -q '^GABc ' "$work/primed.abc" || fail "--prime-file's bars are not continued"
"$bin/abc_cuda_sample" --checkpoint "$work/runs/run1" --n 1 --no-grammar --max-len 100 >/dev/null 2>&1 ||
  fail "--no-grammar failed"
expect_error 2 "--meter" "$bin/abc_cuda_sample" --checkpoint "$work/runs/run1" --meter 7/0
expect_error 2 "--key" "$bin/abc_cuda_sample" --checkpoint "$work/runs/run1" --key Xyz
expect_error 2 "--unit" "$bin/abc_cuda_sample" --checkpoint "$work/runs/run1" --key D --unit 1/3
expect_error 2 "--bars" "$bin/abc_cuda_sample" --checkpoint "$work/runs/run1" --meter 6/8 --key D --bars '[[A'
expect_error 2 "--rhythm" "$bin/abc_cuda_sample" --checkpoint "$work/runs/run1" --rhythm polska
expect_error 2 "--backend cudnn runs on a GPU" "$bin/abc_cuda_train" --hidden 8 --device cpu --backend cudnn \
  --data "$data/tunes.abc" --out "$work/runs/cudnn"
[[ ! -e $work/runs/cudnn ]] || fail "a refused --backend cudnn run left a folder behind"
# --device and --backend: the same options, help and checks in every program that computes.
device_help() { "$@" --help | grep -A1 -E '^ *--(device|backend) '; }
train_help=$(device_help "$bin/abc_cuda_train")
for program in abc_cuda_sample "abc_cuda_eval loss" abc_cuda_bench; do
  # shellcheck disable=SC2086  # "abc_cuda_eval loss" is a program and its subcommand
  [[ $(device_help "$bin/"$program) == "$train_help" ]] || fail "$program's --device/--backend help differs from train's"
done
expect_error 2 "use --device cuda --backend cudnn" "$bin/abc_cuda_bench" --device cudnn
expect_error 2 "--backend cudnn runs on a GPU, but --device cpu" "$bin/abc_cuda_bench" --device cpu --backend cudnn
expect_error 2 "--backend cudnn runs on a GPU, but --device cpu" "$bin/abc_cuda_sample" --checkpoint "$work/runs/run1" \
  --device cpu --backend cudnn
expect_error 2 "--backend cudnn runs on a GPU, but --device cpu" "$bin/abc_cuda_eval" loss --checkpoint "$work/runs/run1" \
  --text "$data/tagged_crlf.txt" --device cpu --backend cudnn
expect_error 1 "binary data" "$bin/abc_cuda_corpus" "$data/binary.abc" --out "$work/c"
expect_error 1 "empty file" "$bin/abc_cuda_corpus" "$data/empty.abc" --out "$work/c"
expect_error 1 "no such file" "$bin/abc_cuda_corpus" "$work/missing.abc" --out "$work/c"
echo "e2e: all checks passed"
