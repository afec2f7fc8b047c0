#!/usr/bin/env bash
# Fetches the default corpus's raw sources from packages on the Python package index
# (pip download --no-deps, then unzip; no other network) into data/raw/, and reports
# tunes, characters and distinct characters per source. Downloads are cached in
# data/cache/ and checked against pinned SHA-256 sums, so a second run is instant.
#
#   music21 (BSD licence; the tunes are public-domain source collections):
#     corpus/oneills1850  O'Neill's Music of Ireland (1850 tunes, 1903)
#     corpus/ryansMammoth Ryan's Mammoth Collection (1883)
#     corpus/airdsAirs    Aird's Selection of Scotch, English, Irish and Foreign Airs (1778-)
#     (essenFolksong is left out: its licence is non-commercial)
#   mitdeeplearning (MIT licence): data/irish.abc
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
data=${ABC_CUDA_DATA:-$root/data}
cache=$data/cache
raw=$data/raw

MUSIC21_VERSION=10.5.1
MUSIC21_FILE=music21-$MUSIC21_VERSION-py3-none-any.whl
MUSIC21_SHA256=dc3309498c4c95cebdf8d4f20c868deb6b63bce1d929cad4f51a7ccc982987b1
MITDL_VERSION=0.7.5
MITDL_FILE=mitdeeplearning-$MITDL_VERSION.tar.gz
MITDL_SHA256=56b1588e1574d17f3ff07a3d56e3b45f2f568f78a92855141f959f407084242b
MUSIC21_FOLDERS=(oneills1850 ryansMammoth airdsAirs)

die() { echo "fetch_corpus: error: $*" >&2; exit 1; }
command -v python3 >/dev/null || die "python3 not found (run tools/setup.sh)"
command -v unzip >/dev/null || die "unzip not found (run tools/setup.sh)"
mkdir -p "$cache" "$raw"

verified() { [[ -f $1 ]] && echo "$2  $1" | sha256sum --check --status; }

download() {  # spec file sha256
  local spec=$1 file=$2 sum=$3
  verified "$cache/$file" "$sum" && return 0
  echo "fetch_corpus: downloading $spec"
  rm -f "$cache/$file"
  # pip prepares an sdist's metadata even with --no-deps; mitdeeplearning's setup.py
  # still imports pkg_resources, which setuptools 81 removed.
  local constraints
  constraints=$(mktemp)
  echo "setuptools<81" >"$constraints"
  PIP_CONSTRAINT=$constraints python3 -m pip download --quiet --no-deps --disable-pip-version-check \
    --dest "$cache" "$spec" >"$cache/pip.log" 2>&1 || {
    rm -f "$constraints"
    tail -5 "$cache/pip.log" >&2
    die "pip download $spec failed (network? see $cache/pip.log)"
  }
  rm -f "$constraints"
  verified "$cache/$file" "$sum" || die "$cache/$file: checksum mismatch (expected sha256 $sum); delete it and retry"
}

download "music21==$MUSIC21_VERSION" "$MUSIC21_FILE" "$MUSIC21_SHA256"
download "mitdeeplearning==$MITDL_VERSION" "$MITDL_FILE" "$MITDL_SHA256"

# Extract once; a stamp records which archives the raw folder came from.
stamp="$raw/.stamp"
want_stamp="$MUSIC21_SHA256 $MITDL_SHA256"
if [[ ! -f $stamp || $(cat "$stamp") != "$want_stamp" ]]; then
  rm -rf "$raw/music21" "$raw/mitdeeplearning" "$stamp"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  patterns=()
  for f in "${MUSIC21_FOLDERS[@]}"; do patterns+=("music21/corpus/$f/*"); done
  unzip -q "$cache/$MUSIC21_FILE" "${patterns[@]}" -d "$tmp" || die "cannot unzip $cache/$MUSIC21_FILE"
  tar -xzf "$cache/$MITDL_FILE" -C "$tmp" "mitdeeplearning-$MITDL_VERSION/mitdeeplearning/data/irish.abc" ||
    die "irish.abc not found in $cache/$MITDL_FILE"
  mkdir -p "$raw/music21" "$raw/mitdeeplearning"
  for f in "${MUSIC21_FOLDERS[@]}"; do mv "$tmp/music21/corpus/$f" "$raw/music21/$f"; done
  mv "$tmp/mitdeeplearning-$MITDL_VERSION/mitdeeplearning/data/irish.abc" "$raw/mitdeeplearning/irish.abc"
  echo "$want_stamp" >"$stamp"
fi

# Verify and report each source.
sources=()
for f in "${MUSIC21_FOLDERS[@]}"; do sources+=("$raw/music21/$f"); done
sources+=("$raw/mitdeeplearning/irish.abc")
printf '%-48s %7s %10s %9s\n' source tunes characters distinct
for s in "${sources[@]}"; do
  [[ -e $s ]] || die "$s missing after extraction"
  if [[ -d $s ]]; then files=$(find "$s" -name '*.abc' | sort); else files=$s; fi
  # shellcheck disable=SC2086
  read -r tunes chars distinct < <(cat $files | python3 -c '
import sys
text = sys.stdin.buffer.read()
tunes = sum(1 for line in text.split(b"\n") if line.lstrip().startswith(b"X:"))
print(tunes, len(text), len(set(text)))')
  [[ $tunes -gt 0 ]] || die "$s has no tunes"
  printf '%-48s %7d %10d %9d\n' "${s#"$data"/}" "$tunes" "$chars" "$distinct"
done
echo "fetch_corpus: raw sources in $raw; next: abc_cuda_corpus (builds $data/corpus/train.txt and val.txt)"
