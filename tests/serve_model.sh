#!/usr/bin/env bash
# ctest fixture of the web app's tests: trains a tiny model (LSTM H=16, 1 epoch on tests/data, a
# second or two) into RUNS_DIR/tiny, the one model the server offers them.
# Usage: serve_model.sh TRAIN_BINARY DATA_DIR RUNS_DIR
set -euo pipefail
train=$1 data=$2 runs=$3
rm -rf "$runs"
mkdir -p "$runs"
"$train" --device cpu --hidden 16 --epochs 1 --data "$data/tunes.abc" --out "$runs/tiny" >"$runs/train.log" 2>&1 ||
  { cat "$runs/train.log" >&2; echo "serve_model.sh: training the test model failed" >&2; exit 1; }
echo "serve_model.sh: a tiny model in $runs/tiny"
