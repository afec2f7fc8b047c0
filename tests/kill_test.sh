#!/usr/bin/env bash
# A run survives being killed: kill -9 a training process at random moments, then the
# checkpoint must load and the run must resume, every time; SIGINT finishes the step,
# writes a checkpoint and says how to resume (exit 130).
# Usage: kill_test.sh BUILD_BIN_DIR TEST_DATA_DIR [ROUNDS]
set -euo pipefail
bin=$1
data=$2
rounds=${3:-8}
work=$(mktemp -d)
trap 'kill -9 $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export ABC_CUDA_RUNS=$work/runs
fail() { echo "kill_test: FAIL: $*" >&2; exit 1; }
run=$work/runs/run

"$bin/abc_cuda_train" --device cpu --hidden 16 --layers 2 --batch 2 --seq 10 --epochs 100000 \
  --data "$data/tunes.abc" "$data/tagged_crlf.txt" --out "$run" --stop-after-steps 1 2>"$work/first.log" ||
  { cat "$work/first.log"; fail "could not start the run"; }

RANDOM=7  # the same moments every time this test runs
for ((round = 1; round <= rounds; round++)); do
  "$bin/abc_cuda_train" --resume "$run" --device cpu 2>"$work/resume.log" &
  pid=$!
  sleep "0.$((RANDOM % 9 + 1))$((RANDOM % 10))"
  kill -9 "$pid" 2>/dev/null || fail "round $round: the run ended before it was killed: $(tail -3 "$work/resume.log")"
  wait "$pid" 2>/dev/null || true
  "$bin/abc_cuda_eval" loss --device cpu --checkpoint "$run/last.ckpt" --text "$data/tagged_crlf.txt" \
    >"$work/eval.log" 2>&1 || fail "round $round: last.ckpt does not load: $(cat "$work/eval.log")"
  ls "$run"/*.tmp >/dev/null 2>&1 && rm -f "$run"/*.tmp  # a torn temporary may remain; the real file never is
done

"$bin/abc_cuda_train" --resume "$run" --device cpu 2>"$work/int.log" &
pid=$!
sleep 1
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
[[ $rc == 130 ]] || fail "SIGINT: exit $rc, expected 130: $(tail -3 "$work/int.log")"
grep -q "interrupted (SIGINT).*Resume with: abc_cuda_train --resume" "$work/int.log" || fail "SIGINT: no resume hint: $(tail -2 "$work/int.log")"
"$bin/abc_cuda_train" --resume "$run" --device cpu --stop-after-steps 3 2>"$work/after.log" ||
  fail "resume after SIGINT failed: $(tail -3 "$work/after.log")"
echo "kill_test: $rounds kill -9 rounds and one SIGINT survived"
