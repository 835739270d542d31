#!/usr/bin/env bash
# Configures and builds foresight into build/ (CUDA targets when nvcc exists).
# Extra arguments go to cmake's configure step. FORESIGHT_BUILD_TARGETS
# (space separated) builds only those targets and what they need, e.g.
# "foresight" for the executable alone; default: everything (tests included).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FORESIGHT_BUILD_DIR:-$root/build}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
targets=()
for t in ${FORESIGHT_BUILD_TARGETS:-}; do targets+=(--target "$t"); done
cmake --build "$build" -j "$(nproc)" ${targets[@]+"${targets[@]}"}
