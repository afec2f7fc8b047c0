#!/usr/bin/env bash
# Hear and see a file of tunes: one MIDI file per tune (abc2midi), audio (fluidsynth
# with the General MIDI sound font, as OGG), sheet music (abcm2ps, SVG), and a static
# index.html showing each tune's title, score, an audio player and its ABC text.
# Everything is local: open OUT/index.html from disk.
#   tools/render.sh TUNES_FILE OUT_DIR [--no-audio]
# TUNES_FILE: abc_cuda_sample output, raw ABC or <start>/<end> text.
set -euo pipefail
usage() { echo "usage: tools/render.sh TUNES_FILE OUT_DIR [--no-audio]" >&2; exit 2; }
[[ $# -ge 2 ]] || usage
in=$1
out=$2
audio=1
[[ ${3:-} == --no-audio ]] && audio=0
[[ -f $in ]] || { echo "render.sh: $in: no such file" >&2; exit 1; }
for tool in abc2midi abcm2ps; do
  command -v "$tool" >/dev/null || { echo "render.sh: $tool not found: run tools/setup.sh" >&2; exit 1; }
done
soundfont=/usr/share/sounds/sf2/FluidR3_GM.sf2
if [[ $audio == 1 ]] && { ! command -v fluidsynth >/dev/null || [[ ! -f $soundfont ]]; }; then
  echo "render.sh: fluidsynth or $soundfont missing: run tools/setup.sh (or pass --no-audio)" >&2
  exit 1
fi
mkdir -p "$out"

# Split into one .abc per tune (tags dropped, X: renumbered), in order.
python3 - "$in" "$out" <<'PY'
import re, sys, pathlib
text = pathlib.Path(sys.argv[1]).read_text(encoding="latin-1").replace("\r\n", "\n")
text = text.replace("<start>\n", "").replace("<end>\n", "\n")
tunes, current = [], []
for line in text.split("\n"):
    if line.startswith("X:") or not line.strip():
        if current:
            tunes.append(current)
        current = [] if not line.startswith("X:") else [line]
    elif current or line:
        current.append(line)
if current:
    tunes.append(current)
tunes = [t for t in tunes if any(l.startswith("K:") for l in t)]
if not tunes:
    sys.exit(f"render.sh: {sys.argv[1]}: no tunes with a K: field")
out = pathlib.Path(sys.argv[2])
for n, t in enumerate(tunes, 1):
    body = [l for l in t if not l.startswith("X:")]
    (out / f"tune_{n}.abc").write_text(f"X:{n}\n" + "\n".join(body).rstrip("\n") + "\n")
print(len(tunes))
PY

count=$(ls "$out"/tune_*.abc | wc -l)
for ((n = 1; n <= count; n++)); do
  base=$out/tune_$n
  abc2midi "$base.abc" -o "$base.mid" >"$base.abc2midi.log" 2>&1 || true
  abcm2ps -q -g "$base.abc" -O "$base.svg" >"$base.abcm2ps.log" 2>&1 || true
  # abcm2ps numbers SVG pages (tune_1001.svg): keep the first page under one name.
  [[ -f $base.svg ]] || { first=$(ls "${base}"0*.svg 2>/dev/null | head -1); [[ -n $first ]] && mv "$first" "$base.svg"; }
  if [[ $audio == 1 && -f $base.mid ]]; then
    fluidsynth -ni -q -T oga -F "$base.ogg" -r 22050 "$soundfont" "$base.mid" >/dev/null 2>&1 || true
  fi
done

python3 - "$out" "$count" <<'PY'
import html, pathlib, sys
out, count = pathlib.Path(sys.argv[1]), int(sys.argv[2])
items = []
for n in range(1, count + 1):
    abc = (out / f"tune_{n}.abc").read_text()
    title = next((l[2:].strip() for l in abc.splitlines() if l.startswith("T:")), f"Tune {n}")
    parts = [f'<section><h2>{n}. {html.escape(title)}</h2>']
    parts.append(f'<img src="tune_{n}.svg" alt="score of {html.escape(title)}">' if (out / f"tune_{n}.svg").exists()
                 else '<p class="missing">abcm2ps could not typeset this tune</p>')
    if (out / f"tune_{n}.ogg").exists():
        parts.append(f'<audio controls preload="none" src="tune_{n}.ogg"></audio>')
    parts.append(f'<p><a href="tune_{n}.mid">MIDI</a> &middot; <a href="tune_{n}.abc">ABC</a></p>')
    parts.append(f"<pre>{html.escape(abc)}</pre></section>")
    items.append("\n".join(parts))
page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>abc-cuda tunes</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}} img{{max-width:100%;background:#fff}}
pre{{background:#f4f4f4;padding:.5em;overflow-x:auto}} section{{border-bottom:1px solid #ccc;padding-bottom:1em}}</style>
</head><body><h1>abc-cuda tunes ({count})</h1>
{chr(10).join(items)}
<script>
// Marks the page for automated checks: every score image must load.
window.addEventListener("load", () => {{
  const broken = [...document.images].filter(i => !i.complete || i.naturalWidth === 0);
  document.body.dataset.loadCheck = broken.length ? "error: " + broken.map(i => i.src).join(" ") : "ok";
}});
</script>
</body></html>
"""
(out / "index.html").write_text(page)
PY
echo "render.sh: $count tunes rendered into $out (open $out/index.html)"
