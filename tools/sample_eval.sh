#!/usr/bin/env bash
# What grammar-constrained sampling buys, measured: from one checkpoint, --n tunes per seed
# with the default settings (grammar on, temperature 0.7), with --no-grammar, and both at
# temperature 1.0; each set evaluated by abc_cuda_eval stats (abc2midi, bars on the meter by
# the grammar's own arithmetic, ended at <end>), with the forced draws and chars/s the
# sampler reports, beside the real validation tunes. Then steering: --n-steer tunes with
# --meter 6/8 --key D and with --bars, checked for their header and first bars.
# Writes a markdown report (default docs/sampling_eval.md).
#   tools/sample_eval.sh [--checkpoint RUN] [--seeds "1 2 3"] [--n 100] [--n-steer 20] [--out FILE]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
checkpoint=$root/runs/latest
seeds="1 2 3"
n=100
n_steer=20
out=$root/docs/sampling_eval.md
while [[ $# -gt 0 ]]; do
  case $1 in
    --checkpoint) checkpoint=${2:?--checkpoint needs a run folder or file}; shift ;;
    --seeds) seeds=${2:?}; shift ;;
    --n) n=${2:?}; shift ;;
    --n-steer) n_steer=${2:?}; shift ;;
    --out) out=${2:?}; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "sample_eval.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
for p in abc_cuda_sample abc_cuda_eval; do
  [[ -x $build/$p ]] || { echo "sample_eval.sh: $build/$p missing: build first (cmake --build build)" >&2; exit 1; }
done
train=$root/data/corpus/train.txt val=$root/data/corpus/val.txt
[[ -f $train && -f $val ]] || { echo "sample_eval.sh: no corpus in data/corpus: run tools/run.sh first" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# name|flags: the sampling settings compared.
configs=("grammar, T=0.7 (default)|" "--no-grammar, T=0.7|--no-grammar" "grammar, T=1.0|--temperature 1.0"
  "--no-grammar, T=1.0|--no-grammar --temperature 1.0")
k=0
for c in "${configs[@]}"; do
  flags=${c#*|}
  for s in $seeds; do
    # shellcheck disable=SC2086 # flags are words
    "$build/abc_cuda_sample" --checkpoint "$checkpoint" --n "$n" --seed "$s" --tags $flags \
      --out "$work/c$k-s$s.txt" 2>"$work/c$k-s$s.log"
    "$build/abc_cuda_eval" stats "$work/c$k-s$s.txt" --json "$work/c$k-s$s.json" >/dev/null
  done
  k=$((k + 1))
done
"$build/abc_cuda_eval" stats "$val" --json "$work/val.json" >/dev/null

# Steering: the header and the first bars asked for.
"$build/abc_cuda_sample" --checkpoint "$checkpoint" --n "$n_steer" --tags --meter 6/8 --key D \
  --out "$work/steer_meter.txt" 2>/dev/null
"$build/abc_cuda_eval" stats "$work/steer_meter.txt" --json "$work/steer_meter.json" >/dev/null
bars='|:A2B c2d|e2f g2e|'
"$build/abc_cuda_sample" --checkpoint "$checkpoint" --n "$n_steer" --tags --meter 6/8 --key D --bars "$bars" \
  --out "$work/steer_bars.txt" 2>/dev/null
"$build/abc_cuda_eval" stats "$work/steer_bars.txt" --json "$work/steer_bars.json" >/dev/null

python3 - "$work" "$seeds" "$n" "$checkpoint" "$bars" "${configs[@]}" >"$out" <<'PY'
import json, pathlib, re, statistics, sys
work, seeds, n, checkpoint, bars = pathlib.Path(sys.argv[1]), sys.argv[2].split(), sys.argv[3], sys.argv[4], sys.argv[5]
configs = [c.split("|")[0] for c in sys.argv[6:]]
stats = lambda p: next(iter(json.loads(p.read_text()).values()))
def log_numbers(p):
    text = p.read_text()
    speed = re.search(r"\(([0-9]+) chars/s\)", text)
    forced = re.search(r"grammar: ([0-9]+) forced draws", text)
    return (int(speed.group(1)) if speed else 0), (int(forced.group(1)) if forced else 0)
print(f"Checkpoint `{checkpoint}`; {n} tunes per seed, seeds {', '.join(seeds)}; regenerate with "
      "`tools/sample_eval.sh` (after `tools/run.sh`).\n")
print("| sampling | abc2midi no error (per seed) | all | every bar on the meter | ended at <end> | forced draws per tune | chars/s (median) |")
print("|---|---|---|---|---|---|---|")
for k, name in enumerate(configs):
    runs = [stats(work / f"c{k}-s{s}.json") for s in seeds]
    logs = [log_numbers(work / f"c{k}-s{s}.log") for s in seeds]
    tunes = sum(r["tunes"] for r in runs)
    pct = lambda x: f"{100 * x / tunes:.1f}%"
    print(f"| {name} | " + " / ".join(f"{100 * r['abc2midi_no_error'] / r['tunes']:.0f}%" for r in runs) +
          f" | {pct(sum(r['abc2midi_no_error'] for r in runs))} | {pct(tunes - sum(r['tunes_with_bad_bars'] for r in runs))}"
          f" | {pct(sum(r['ended'] for r in runs))} | {sum(f for _, f in logs) / tunes:.2f} | {statistics.median(s for s, _ in logs):.0f} |")
v = stats(work / "val.json")
print(f"| real validation tunes ({v['tunes']}) | - | {100 * v['abc2midi_no_error'] / v['tunes']:.1f}% | "
      f"{100 * (v['tunes'] - v['tunes_with_bad_bars']) / v['tunes']:.1f}% | 100% | - | - |")
print("\n\"Every bar on the meter\" is abc_cuda_eval stats' count, by the grammar's own bar arithmetic "
      "(check_bars: a shorter first bar and a shorter last bar of a section allowed); abc2midi's bar-length "
      "warnings are stricter (they carry a short section end into the next bar). A forced draw is one where the "
      "model put under 1e-4 of its probability on the legal characters and the most likely legal one was taken.")
print("\nSteering (grammar on, T=0.7):\n")
print("| asked for | tunes | with `M:6/8` and `K:D` | starting with the bars | every bar on the meter | abc2midi no error |")
print("|---|---|---|---|---|---|")
for name, f, want_bars in (("--meter 6/8 --key D", "steer_meter", False), (f"--meter 6/8 --key D --bars \"{bars}\"", "steer_bars", True)):
    text = (work / f"{f}.txt").read_text()
    tunes = [t.split("<end>")[0] for t in text.split("<start>\n")[1:]]
    header = sum("\nM:6/8\n" in t and "\nK:D\n" in t for t in tunes)
    started = sum(t.split("\nK:D\n", 1)[-1].startswith(bars) for t in tunes) if want_bars else None
    s = stats(work / f"{f}.json")
    shown = name.replace("|", "\\|")
    print(f"| `{shown}` | {len(tunes)} | {header} | {started if started is not None else '-'} | "
          f"{s['tunes'] - s['tunes_with_bad_bars']} | {s['abc2midi_no_error']} |")
PY
echo "sample_eval.sh: wrote $out" >&2
