#!/usr/bin/env bash
# The source project's experiment: six models trained on the same data, compared by
# loss and by the tunes they write. Trains each model (in sequence, or --jobs N at a
# time), samples 20 tunes from each with --tags, evaluates them, then writes
# OUT/sweep.md (a markdown table) and OUT/loss_curves.png (train and val per epoch).
#   tools/sweep.sh [--epochs N] [--jobs N] [--out DIR] [--models SPECS] [--docs]
# SPECS: "name:cell:hidden:dropout,..." (default: the six models below).
# --docs also copies the table and the plot into docs/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
epochs=20
jobs=1
out=$root/runs/sweep
docs=0
models="lstm-h150-d0.1:lstm:150:0.1,rnn-h150-d0.1:rnn:150:0.1,lstm-h200-d0.1:lstm:200:0.1,lstm-h250-d0.1:lstm:250:0.1,lstm-h150-d0.2:lstm:150:0.2,lstm-h150-d0.3:lstm:150:0.3"
while [[ $# -gt 0 ]]; do
  case $1 in
    --epochs) epochs=$2; shift ;;
    --jobs) jobs=$2; shift ;;
    --out) out=$2; shift ;;
    --models) models=$2; shift ;;
    --docs) docs=1 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "sweep.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
for p in abc_cuda_train abc_cuda_sample abc_cuda_eval; do
  [[ -x $build/$p ]] || { echo "sweep.sh: $build/$p missing: build first (tools/run.sh or cmake --build build)" >&2; exit 1; }
done
command -v gnuplot >/dev/null || { echo "sweep.sh: gnuplot missing: run tools/setup.sh" >&2; exit 1; }
mkdir -p "$out"

run_one() {  # name cell hidden dropout
  local name=$1 cell=$2 hidden=$3 dropout=$4 dir=$out/$1
  echo "sweep: training $name ($cell H=$hidden dropout=$dropout, $epochs epochs)"
  local start=$SECONDS
  "$build/abc_cuda_train" --cell "$cell" --hidden "$hidden" --dropout "$dropout" --epochs "$epochs" \
    --out "$dir" >"$out/$name.train.log" 2>&1 || { echo "sweep: $name failed, see $out/$name.train.log" >&2; return 1; }
  echo $((SECONDS - start)) >"$dir/seconds"
  "$build/abc_cuda_sample" --checkpoint "$dir" --n 20 --tags --out "$dir/samples.txt" 2>"$dir/sample.log"
  "$build/abc_cuda_eval" stats "$dir/samples.txt" --train "$root/data/corpus/train.txt" --json "$dir/eval.json" \
    >"$dir/eval.md"
  echo "sweep: $name done in $((SECONDS - start)) s"
}

IFS=, read -r -a specs <<<"$models"
pids=()
for spec in "${specs[@]}"; do
  IFS=: read -r name cell hidden dropout <<<"$spec"
  run_one "$name" "$cell" "$hidden" "$dropout" &
  pids+=($!)
  if [[ ${#pids[@]} -ge $jobs ]]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for pid in "${pids[@]}"; do wait "$pid"; done

python3 - "$out" "$models" "$epochs" <<'PY'
import csv, json, pathlib, sys
out, specs, epochs = pathlib.Path(sys.argv[1]), sys.argv[2].split(","), sys.argv[3]
rows, curves = [], []
for spec in specs:
    name, cell, hidden, dropout = spec.split(":")
    d = out / name
    metrics = list(csv.DictReader(open(d / "metrics.csv")))
    best = min(metrics, key=lambda m: float(m["val_loss"]))
    ev = json.load(open(d / "eval.json"))
    ev = next(iter(ev.values()))
    n = ev["tunes"]
    pct = lambda k: f"{100 * k / n:.0f}%"
    fields = min(ev["with_field"][f] for f in "XMLK")
    rows.append(f"| {name} | {cell} | {hidden} | {dropout} | {float(metrics[-1]['train_loss']):.3f} | "
                f"{float(metrics[-1]['val_loss']):.3f} | {float(best['val_loss']):.3f} (epoch {best['epoch']}) | "
                f"{int(open(d / 'seconds').read())} s | {sum(float(m['chars_per_s']) for m in metrics) / len(metrics):.0f} | "
                f"{pct(ev['ended'])} | {pct(ev['abc2midi_no_error'])} | {pct(fields)} | {pct(ev['distinct'])} | "
                f"{ev.get('longest_shared_median', '-')} |")
    with open(out / f"{name}.dat", "w") as f:
        for m in metrics:
            f.write(f"{m['epoch']} {m['train_loss']} {m['val_loss']}\n")
    curves.append(name)
table = ("| model | cell | H | dropout | final train | final val | best val | time | chars/s | "
         "20 samples: ended at <end> | abc2midi no error | X M L K fields | distinct | "
         "longest run shared with train (median chars) |\n|" + "---|" * 14 + "\n" + "\n".join(rows) + "\n")
(out / "sweep.md").write_text(f"Losses in nats per character, {epochs} epochs each, default corpus; the samples are "
                              "drawn at the default temperature.\n\n" + table)
plot = ["set terminal pngcairo size 1000,600", f"set output '{out}/loss_curves.png'",
        "set xlabel 'epoch'", "set ylabel 'loss (nats/char)'", "set key outside right", "set grid",
        "plot " + ", \\\n  ".join(
            f"'{out}/{c}.dat' using 1:2 with lines dt 2 lc {k + 1} title '{c} train', "
            f"'{out}/{c}.dat' using 1:3 with linespoints lc {k + 1} pt 7 ps 0.5 title '{c} val'"
            for k, c in enumerate(curves))]
(out / "plot.gp").write_text("\n".join(plot) + "\n")
PY
gnuplot "$out/plot.gp"
if [[ $docs == 1 ]]; then
  mkdir -p "$root/docs"
  cp "$out/sweep.md" "$root/docs/sweep.md"
  cp "$out/loss_curves.png" "$root/docs/loss_curves.png"
fi
echo "sweep: table $out/sweep.md, plot $out/loss_curves.png"
