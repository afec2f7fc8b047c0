#!/usr/bin/env bash
# How sampling temperature trades correctness for invention: for each temperature,
# samples --n tunes with each seed from one checkpoint, evaluates them with
# abc_cuda_eval stats and writes a markdown table (abc2midi with no error, bars off the
# meter, distinct tunes, longest run shared with the training text), with the real
# validation tunes as the last row.
#   tools/temperature.sh [--checkpoint RUN] [--temps "0.5 0.6 ..."] [--seeds "1 2 3"] [--n 20] [--out FILE]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
checkpoint=$root/runs/latest
temps="0.5 0.6 0.7 0.8 0.9 1.0"
seeds="1 2 3"
n=20
out=/dev/stdout
while [[ $# -gt 0 ]]; do
  case $1 in
    --checkpoint) checkpoint=$2; shift ;;
    --temps) temps=$2; shift ;;
    --seeds) seeds=$2; shift ;;
    --n) n=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "temperature.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
for p in abc_cuda_sample abc_cuda_eval; do
  [[ -x $build/$p ]] || { echo "temperature.sh: $build/$p missing: build first (cmake --build build)" >&2; exit 1; }
done
train=$root/data/corpus/train.txt val=$root/data/corpus/val.txt
[[ -f $train && -f $val ]] || { echo "temperature.sh: no corpus in data/corpus: run $build/abc_cuda_corpus" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for t in $temps; do
  for s in $seeds; do
    "$build/abc_cuda_sample" --checkpoint "$checkpoint" --n "$n" --temperature "$t" --seed "$s" --tags \
      --out "$work/t$t-s$s.txt" 2>/dev/null
    "$build/abc_cuda_eval" stats "$work/t$t-s$s.txt" --train "$train" --json "$work/t$t-s$s.json" >/dev/null
  done
done
"$build/abc_cuda_eval" stats "$val" --json "$work/val.json" >/dev/null

python3 - "$work" "$temps" "$seeds" "$checkpoint" >"$out" <<'PY'
import json, pathlib, statistics, sys
work, temps, seeds, checkpoint = pathlib.Path(sys.argv[1]), sys.argv[2].split(), sys.argv[3].split(), sys.argv[4]
def stats(path):
    return next(iter(json.loads(path.read_text()).values()))
print(f"Checkpoint `{checkpoint}`; {len(seeds)} seeds (" + ", ".join(seeds) + ") per temperature.\n")
print("| temperature | abc2midi no error (per seed) | mean | ended at <end> | tunes with bars off the meter | unbalanced repeats | distinct | longest run shared with train (median of medians / max) |")
print("|---|---|---|---|---|---|---|---|")
for t in temps:
    runs = [stats(work / f"t{t}-s{s}.json") for s in seeds]
    ok = [r["abc2midi_no_error"] / r["tunes"] for r in runs]
    pct = lambda key: 100 * sum(r[key] for r in runs) / sum(r["tunes"] for r in runs)
    shared = statistics.median(r["longest_shared_median"] for r in runs)
    longest = max(max(r["longest_shared"]) for r in runs)
    print(f"| {t} | " + " / ".join(f"{100 * x:.0f}%" for x in ok) + f" | {100 * statistics.mean(ok):.0f}% | "
          f"{pct('ended'):.0f}% | {pct('tunes_with_bad_bars'):.0f}% | {pct('unbalanced_repeats'):.0f}% | "
          f"{pct('distinct'):.0f}% | {shared:g} / {longest} chars |")
v = stats(work / "val.json")
print(f"| real validation tunes ({v['tunes']}) | - | {100 * v['abc2midi_no_error'] / v['tunes']:.0f}% | - | "
      f"{100 * v['tunes_with_bad_bars'] / v['tunes']:.0f}% | {100 * v['unbalanced_repeats'] / v['tunes']:.0f}% | "
      f"{100 * v['distinct'] / v['tunes']:.0f}% | - |")
PY
