#!/usr/bin/env bash
# Installs what a fresh Debian machine lacks to build, test and run abc-cuda.
# Idempotent: prints nothing and changes nothing when everything is there.
set -euo pipefail

packages=(
  cmake g++ make            # build
  libcli11-dev              # command-line flags
  libopenblas-dev           # CPU GEMMs
  zlib1g-dev                # checkpoint checksums
  nlohmann-json3-dev        # JSON reports
  googletest libgtest-dev   # tests
  libboost-context-dev      # tests: the CUDA emulation runs each CUDA thread as a fiber
  abcmidi                   # abc2midi: the corpus playability filter, MIDI files
  abcm2ps                   # sheet music (SVG)
  fluidsynth fluid-soundfont-gm  # audio from MIDI
  chromium                  # the rendering and web app tests open pages headless
  libcpp-httplib-dev pkg-config  # abc_cuda_serve, the local web app (HTTP server)
  gnuplot-nox               # the sweep's loss-curve plot
  unzip python3 python3-pip # tools/fetch_corpus.sh (pip download, then unzip)
)

# --with-torch (tools/test.sh): PyTorch for the system python3, which the export test
# loads our models into (Debian's python3-torch, about 40 s to install).
[[ ${1:-} == --with-torch ]] && packages+=(python3-torch)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
# python3/pip may come from elsewhere (pyenv): only ask apt for them when absent.
if command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]}"; do [[ $p == python3 || $p == python3-pip ]] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "setup: installing ${missing[*]}"
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
