#!/usr/bin/env bash
# Does starting from a trained model help a user with a few hundred tunes of their own?
# mitdeeplearning's irish.abc plays the user's corpus (a fixed 80/10/10 split by tune);
# the base model is pretrained on the music21 collections only, with every tune that is
# also in irish.abc removed (same text apart from X:, the corpus builder's duplicate rule).
# Then, on the user's 80%, the base model is fine-tuned (--init-from) for --epochs, and the
# same model is trained from scratch for twice as many epochs (so with at least the CPU time
# of the fine-tuning: a generous baseline); all three are scored on the held-out 10%
# (abc_cuda_eval loss). Writes a markdown report.
#   tools/finetune_eval.sh [--pre-epochs 20] [--epochs 10] [--hidden 100] [--work DIR] [--out FILE]
# Needs tools/fetch_corpus.sh's downloads (data/raw) and a build (BUILD_DIR, default build).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
pre_epochs=20
epochs=10
hidden=100
work=$root/runs/finetune_eval
out=$root/docs/finetune.md
while [[ $# -gt 0 ]]; do
  case $1 in
    --pre-epochs) pre_epochs=${2:?}; shift ;;
    --epochs) epochs=${2:?}; shift ;;
    --hidden) hidden=${2:?}; shift ;;
    --work) work=${2:?}; shift ;;
    --out) out=${2:?}; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "finetune_eval.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
for p in abc_cuda_corpus abc_cuda_train abc_cuda_eval; do
  [[ -x $build/$p ]] || { echo "finetune_eval.sh: $build/$p missing: build first (cmake --build build)" >&2; exit 1; }
done
irish=$root/data/raw/mitdeeplearning/irish.abc music21=$root/data/raw/music21
[[ -f $irish && -d $music21 ]] || { echo "finetune_eval.sh: no downloads in data/raw: run tools/fetch_corpus.sh" >&2; exit 1; }
rm -rf "$work"
mkdir -p "$work"
log=$work/log.txt

# The user's tunes: 80% train, 10% validation (early choice of best.ckpt), 10% test.
"$build/abc_cuda_corpus" "$irish" --out "$work/user" --val 0.1 --test 0.1 --seed 1 >>"$log" 2>&1
# The base corpus: music21 only, minus the user's tunes.
"$build/abc_cuda_corpus" "$music21" --out "$work/base_all" --seed 1 >>"$log" 2>&1
mkdir -p "$work/base"
python3 - "$work" <<'PY'
import pathlib, re, sys
work = pathlib.Path(sys.argv[1])
def tunes(path):
    return re.findall(r"<start>\n(.*?)<end>\n", path.read_text(), flags=re.S)
def key(tune):  # the text apart from the X: line: the corpus builder's duplicate rule
    return re.sub(r"^X:[^\n]*\n", "", tune)
user = {key(t) for f in ("train", "val", "test") for t in tunes(work / "user" / f"{f}.txt")}
for f in ("train", "val"):
    kept = [t for t in tunes(work / "base_all" / f"{f}.txt") if key(t) not in user]
    (work / "base" / f"{f}.txt").write_text("".join(f"<start>\n{t}<end>\n" for t in kept))
    print(f"base {f}: {len(kept)} tunes")
PY

train() {  # name, then abc_cuda_train flags; prints the CPU seconds it took
  local name=$1
  shift
  /usr/bin/time -f "%U %S" -o "$work/$name.time" "$build/abc_cuda_train" --device cpu --out "$work/$name" "$@" \
    >>"$log" 2>&1
  awk '{ printf "%.0f", $1 + $2 }' "$work/$name.time"
}
user_data=(--data "$work/user/train.txt" --val "$work/user/val.txt")
pre_cpu=$(train base --cell lstm --hidden "$hidden" --epochs "$pre_epochs" --data "$work/base/train.txt" \
  --val "$work/base/val.txt")
ft_cpu=$(train finetuned --init-from "$work/base" --epochs "$epochs" "${user_data[@]}")
scratch_epochs=$((2 * epochs))
scratch_cpu=$(train scratch --cell lstm --hidden "$hidden" --epochs "$scratch_epochs" "${user_data[@]}")

loss() { "$build/abc_cuda_eval" loss --device cpu --checkpoint "$work/$1" --text "$work/user/test.txt" 2>/dev/null |
  sed -n 's/.* \([0-9.]*\) nats\/char.*/\1/p' | head -1; }
base_loss=$(loss base) ft_loss=$(loss finetuned) scratch_loss=$(loss scratch)
count() { grep -c '^<start>$' "$1"; }
{
  echo "User corpus: irish.abc (mitdeeplearning 0.7.5), split by tune with seed 1:"
  echo "$(count "$work/user/train.txt") train / $(count "$work/user/val.txt") validation / $(count "$work/user/test.txt") test tunes."
  echo "Base corpus: the music21 collections without those tunes: $(count "$work/base/train.txt") train /"
  echo "$(count "$work/base/val.txt") validation tunes. LSTM H=$hidden, every other setting at its default, CPU."
  echo "Regenerate: \`tools/finetune_eval.sh --pre-epochs $pre_epochs --epochs $epochs --hidden $hidden\`."
  echo
  echo "| model | trained on | epochs | CPU seconds | loss on the held-out 10% (nats/char) |"
  echo "|---|---|---|---|---|"
  echo "| base, not fine-tuned | music21 only | $pre_epochs | $pre_cpu | $base_loss |"
  echo "| fine-tuned from the base (\`--init-from\`) | the user's 80% | $epochs | $ft_cpu | $ft_loss |"
  echo "| from scratch | the user's 80% | $scratch_epochs | $scratch_cpu | $scratch_loss |"
  echo
  awk -v a="$scratch_loss" -v b="$ft_loss" -v c="$ft_cpu" -v d="$scratch_cpu" 'BEGIN { printf "Fine-tuning ends %.3f nats/char below training from scratch on the same data, with %.0f%% of its CPU time (best.ckpt of each run, chosen on the user'"'"'s validation 10%%).\n", a - b, 100 * c / d }'
} >"$out"
cat "$out"
