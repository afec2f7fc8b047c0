#!/usr/bin/env bash
# abc_cuda_export against PyTorch: for LSTM, tanh RNN and GRU, 1 and 2 layers, a small model is
# trained for an epoch, exported, loaded into PyTorch (tools/export_check.py, strict
# load_state_dict) and its loss over a fixed text compared with ours (abc_cuda_eval loss,
# one stream): equal to 1e-5 nats per character. Then the export's error paths.
# Usage: export_test.sh BUILD_DIR TEST_DATA_DIR TOOLS_DIR   (needs python3 with torch)
set -euo pipefail
bin=$1 data=$2 tools=$3
py=${TORCH_PYTHON:-/usr/bin/python3}
"$py" -c "import torch" 2>/dev/null || { echo "export_test: FAIL: $py has no torch (tools/setup.sh installs python3-torch)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "export_test: FAIL: $*" >&2; exit 1; }
text=$data/tagged_crlf.txt
for cell in lstm rnn gru; do
  for layers in 1 2; do
    run=$work/$cell$layers
    "$bin/abc_cuda_train" --device cpu --cell "$cell" --hidden 12 --layers "$layers" --epochs 1 --seed 3 \
      --data "$data/tunes.abc" --out "$run" >/dev/null 2>&1 || fail "training $cell x$layers failed"
    "$bin/abc_cuda_export" "$run" --out "$run.safetensors" 2>/dev/null || fail "export of $cell x$layers failed"
    ours=$("$bin/abc_cuda_eval" loss --device cpu --checkpoint "$run" --text "$text" --batch 1 --seq 100000 2>/dev/null |
      sed -n 's/.*: \([0-9.]*\) nats\/char.*/\1/p')
    theirs=$("$py" "$tools/export_check.py" "$run.safetensors" "$text" | sed -n 's/^\([0-9.]*\) nats\/char.*/\1/p')
    [[ -n $ours && -n $theirs ]] || fail "$cell x$layers: no loss (ours '$ours', PyTorch '$theirs')"
    awk -v a="$ours" -v b="$theirs" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-5) }' ||
      fail "$cell x$layers: ours $ours, PyTorch $theirs nats/char"
    echo "export_test: $cell x$layers: ours $ours, PyTorch $theirs nats/char"
  done
done
# Errors: a file that is not a checkpoint, and --out missing.
if "$bin/abc_cuda_export" "$data/tunes.abc" --out "$work/x.safetensors" 2>"$work/err"; then fail "exported a non-checkpoint"; fi
grep -q "not an abc-cuda checkpoint" "$work/err" || fail "no clear error for a non-checkpoint: $(cat "$work/err")"
[[ ! -e $work/x.safetensors ]] || fail "a file was written for a non-checkpoint"
echo "export_test: all checks passed"
