#!/usr/bin/env bash
# Renders two known tunes with tools/render.sh and checks the MIDI, audio and SVG files
# and the page: headless Chromium loads index.html from disk, every score image must
# load (the page's own check), and a screenshot is taken. Usage: render_test.sh REPO
set -euo pipefail
repo=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "render_test: FAIL: $*" >&2; exit 1; }

# The first two tunes of tests/data/tunes.abc.
awk '/^X:3/ { exit } { print }' "$repo/tests/data/tunes.abc" >"$work/two.abc"
"$repo/tools/render.sh" "$work/two.abc" "$work/out" >"$work/render.log" 2>&1 || { cat "$work/render.log"; fail "render.sh failed"; }

size() { stat -c %s "$1" 2>/dev/null || echo 0; }
for n in 1 2; do
  [[ $(size "$work/out/tune_$n.mid") -gt 100 ]] || fail "tune_$n.mid missing or tiny"
  [[ $(size "$work/out/tune_$n.svg") -gt 2000 ]] || fail "tune_$n.svg missing or tiny"
  [[ $(size "$work/out/tune_$n.ogg") -gt 10000 ]] || fail "tune_$n.ogg missing or tiny"
  grep -q "<svg" "$work/out/tune_$n.svg" || fail "tune_$n.svg is not SVG"
  [[ $(head -c 4 "$work/out/tune_$n.mid") == MThd ]] || fail "tune_$n.mid is not MIDI"
  [[ $(head -c 4 "$work/out/tune_$n.ogg") == OggS ]] || fail "tune_$n.ogg is not Ogg"
done
[[ ! -e $work/out/tune_3.abc ]] || fail "a third tune appeared"
grep -q "Compiler&#x27;s Jig\|Compiler's Jig" "$work/out/index.html" || fail "page lacks the second title"

browser=$(command -v chromium || command -v chromium-browser || true)
[[ -n $browser ]] || fail "chromium not found: run tools/setup.sh"
page_check() {
  timeout 60 "$browser" --headless --no-sandbox --disable-gpu --dump-dom "file://$1/index.html" 2>/dev/null |
    grep -o 'data-load-check="[^"]*"' || echo "no check result"
}
result=$(page_check "$work/out")
[[ $result == 'data-load-check="ok"' ]] || fail "page load check: $result"
timeout 60 "$browser" --headless --no-sandbox --disable-gpu --window-size=1000,1400 \
  --screenshot="$work/shot.png" "file://$work/out/index.html" >/dev/null 2>&1 || true
[[ $(size "$work/shot.png") -gt 10000 ]] || fail "no screenshot"

# The page check must be able to fail: a missing score is reported.
rm "$work/out/tune_2.svg"
result=$(page_check "$work/out")
[[ $result == *error* ]] || fail "a missing score was not reported (got: $result)"
echo "render_test: all checks passed"
