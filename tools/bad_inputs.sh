#!/usr/bin/env bash
# Runs every program on bad input and writes docs/bad_inputs.md: the command, its exit
# code and the message it printed. The table in docs/ is this script's output, not
# prose: rerun it after changing a message.
#   tools/bad_inputs.sh [BUILD_DIR]
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$root/build}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export ABC_CUDA_RUNS=$work/runs
cd "$work"
data=$root/tests/data

# A small trained run and some broken files to point the programs at.
"$bin/abc_cuda_train" --device cpu --hidden 8 --epochs 1 --data "$data/tunes.abc" --out run >/dev/null 2>&1
head -c 1048576 /dev/urandom >random.bin
: >empty.abc
head -c 200 run/best.ckpt >cut.ckpt
cp run/best.ckpt flipped.ckpt && printf '\x55' | dd of=flipped.ckpt bs=1 seek=300 conv=notrunc 2>/dev/null
mkdir -p empty_dir

cases=(
  "abc_cuda_corpus random.bin|a 1 MB file of random bytes"
  "abc_cuda_corpus empty.abc|an empty file"
  "abc_cuda_corpus missing.abc|a missing path"
  "abc_cuda_corpus empty_dir|a folder with no tune files"
  "abc_cuda_corpus $data/no_tunes|a folder whose files hold no tune"
  "abc_cuda_corpus $data/tunes.abc --val 0.9|a validation share out of range"
  "abc_cuda_train|no --hidden"
  "abc_cuda_train --hidden 0|hidden size 0"
  "abc_cuda_train --hidden 100 --layers 0|zero layers"
  "abc_cuda_train --hidden 100 --dropout 1|dropout 1"
  "abc_cuda_train --hidden 100 --seq 0|seq 0"
  "abc_cuda_train --hidden 100 --batch 0|batch 0"
  "abc_cuda_train --hidden 100 --cell gru|an unknown cell"
  "abc_cuda_train --hidden 100 --lr -1|a negative learning rate"
  "abc_cuda_train --hidden 100 --data missing.abc|missing data"
  "abc_cuda_train --hidden 8 --data random.bin|binary data"
  "abc_cuda_train --hidden 8 --data $data/tunes.abc --out run|an --out folder that already holds a run"
  "abc_cuda_train --hidden 8 --data $data/tunes.abc --out empty.abc/run|an output folder that cannot be created"
  "abc_cuda_train --resume empty_dir|--resume on a folder without a run"
  "abc_cuda_train --resume run --hidden 50|--resume with a model flag"
  "abc_cuda_train --hidden 100 --lr-schedule linear|an unknown --lr-schedule"
  "abc_cuda_train --hidden 100 --lr-schedule step --lr-decay 1.5|--lr-decay above 1"
  "abc_cuda_train --hidden 100 --lr-schedule step --lr-decay 0|--lr-decay 0"
  "abc_cuda_train --hidden 100 --lr-decay 0.5|--lr-decay without --lr-schedule step"
  "abc_cuda_train --hidden 100 --patience -1|a negative --patience"
  "abc_cuda_train --resume run --lr-schedule cosine|--resume with a schedule flag"
  "abc_cuda_train --init-from $data/tunes.abc --data $data/tunes.abc|--init-from a file that is not a checkpoint"
  "abc_cuda_train --init-from cut.ckpt --data $data/tunes.abc|--init-from a truncated checkpoint"
  "abc_cuda_train --init-from empty_dir --data $data/tunes.abc|--init-from a folder without best.ckpt"
  "abc_cuda_train --init-from run --hidden 50 --data $data/tunes.abc|--init-from with a contradicting --hidden"
  "abc_cuda_train --init-from run --cell rnn --data $data/tunes.abc|--init-from with a contradicting --cell"
  "abc_cuda_train --init-from run --resume run|--init-from with --resume"
  "abc_cuda_train --hidden 8 --device cuda --data $data/tunes.abc|--device cuda without a usable GPU"
  "abc_cuda_train --hidden 8 --backend cudnn --data $data/tunes.abc|--backend cudnn without a usable GPU"
  "abc_cuda_train --hidden 8 --device cpu --backend cudnn --data $data/tunes.abc|--backend cudnn on the CPU"
  "abc_cuda_bench --device cudnn|--device cudnn (cuDNN is a --backend)"
  "abc_cuda_sample --checkpoint missing.ckpt|a missing checkpoint"
  "abc_cuda_sample --checkpoint $data/tunes.abc|a file that is not a checkpoint"
  "abc_cuda_sample --checkpoint cut.ckpt|a truncated checkpoint"
  "abc_cuda_sample --checkpoint flipped.ckpt|a checkpoint with one byte changed"
  "abc_cuda_sample --checkpoint run --prime <start>@|a prime character outside the vocabulary"
  "abc_cuda_sample --checkpoint run --n 0|n 0"
  "abc_cuda_sample --checkpoint run --temperature -1|a negative temperature"
  "abc_cuda_sample --checkpoint run --max-len 0|max-len 0"
  "abc_cuda_sample --checkpoint run --meter 7/0|a meter that is not one"
  "abc_cuda_sample --checkpoint run --key Xyz|a key that is not one"
  "abc_cuda_sample --checkpoint run --key D --unit 1/3|a unit note length that is not one"
  "abc_cuda_sample --checkpoint run --rhythm polska|a rhythm the corpus does not label"
  "abc_cuda_sample --checkpoint run --rhythm hornpipe --meter 6/8|a hornpipe in 6/8 (abc2midi refuses it)"
  "abc_cuda_sample --checkpoint run --bars ABc|--bars without --meter and --key"
  "abc_cuda_sample --checkpoint run --meter 6/8 --key D --bars [[A|bars that do not parse"
  "abc_cuda_sample --checkpoint run --meter 6/8 --key D --bars A8B8|bars that do not fit the meter"
  "abc_cuda_sample --checkpoint run --prime x --meter 6/8|--prime with a steering flag"
  "abc_cuda_sample --checkpoint run --prime-file missing.abc|a missing --prime-file"
  "abc_cuda_eval loss --checkpoint run --text missing.txt|eval: a missing text"
  "abc_cuda_export $data/tunes.abc --out x.safetensors|export: a file that is not a checkpoint"
  "abc_cuda_export run|export: no --out"
  "abc_cuda_eval stats empty.abc|eval: a file with no tunes"
)
out=$root/docs/bad_inputs.md
mkdir -p "$root/docs"
{
  echo "# Bad input and what it gets"
  echo
  echo "Generated by \`tools/bad_inputs.sh\` on $(date -u +%Y-%m-%d) (exit codes: 0 ok, 1 runtime error, 2 usage error)."
  echo
  echo "| input | command | exit | message |"
  echo "|---|---|---|---|"
  for c in "${cases[@]}"; do
    cmd=${c%%|*}
    what=${c#*|}
    # shellcheck disable=SC2086
    "$bin/"$cmd >stdout.txt 2>stderr.txt </dev/null
    rc=$?
    msg=$(grep -v 'Run with --help' stderr.txt | tail -1 | sed "s#$work/##g; s#$root/##g; s/|/\\\\|/g")
    shown=$(sed "s#$root/##g" <<<"$cmd" | sed 's/|/\\|/g')
    echo "| $what | \`$shown\` | $rc | $msg |"
  done
} >"$out"
echo "bad_inputs.sh: wrote $out"
