#!/usr/bin/env bash
# What the grammar costs at sampling time: chars/s of abc_cuda_sample from one checkpoint
# with the grammar on (the default) and off (--no-grammar), with 1 stream and 64 streams,
# medians of --repeats runs (the sampler's own chars/s line). Run it with nothing else on the
# machine. Prints a markdown table.
#   tools/bench_sampling.sh [--checkpoint RUN] [--repeats 5] [--device cpu]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
checkpoint=$root/runs/latest
repeats=5
device=cpu
while [[ $# -gt 0 ]]; do
  case $1 in
    --checkpoint) checkpoint=${2:?}; shift ;;
    --repeats) repeats=${2:?}; shift ;;
    --device) device=${2:?}; shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "bench_sampling.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done
[[ -x $build/abc_cuda_sample ]] || { echo "bench_sampling.sh: $build/abc_cuda_sample missing: build first" >&2; exit 1; }

# chars/s of one run: streams, tunes, extra flags.
rate() {
  local streams=$1 n=$2
  shift 2
  "$build/abc_cuda_sample" --checkpoint "$checkpoint" --device "$device" --n "$n" --streams "$streams" \
    --out /dev/null "$@" 2>&1 | sed -n 's/.*(\([0-9]*\) chars\/s).*/\1/p'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "Sampling chars/s, $device, checkpoint \`$checkpoint\`, medians of $repeats runs, $(date -u +%Y-%m-%d)."
echo
echo "| streams | tunes per run | grammar on | --no-grammar | on / off |"
echo "|---|---|---|---|---|"
for config in "1 8" "64 128"; do
  read -r streams n <<<"$config"
  on=$(for _ in $(seq "$repeats"); do rate "$streams" "$n"; done | median)
  off=$(for _ in $(seq "$repeats"); do rate "$streams" "$n" --no-grammar; done | median)
  awk -v s="$streams" -v n="$n" -v a="$on" -v b="$off" \
    'BEGIN { printf "| %d | %d | %.0f | %.0f | %.2f |\n", s, n, a, b, (b > 0 ? a / b : 0) }'
done
