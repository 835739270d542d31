#!/usr/bin/env bash
# README command 1: install what is missing, build the foresight executable,
# and run the main job on its built-in default.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/setup.sh"
# The executable alone (and the libraries it links), not the tests and
# benchmarks: the report needs nothing else.
FORESIGHT_BUILD_TARGETS=foresight bash "$root/scripts/build.sh"
cd "$root"
"$root/build/bin/foresight" plan --out runs/plan
echo "open runs/plan/report.html in a browser (or read runs/plan/report.md)"
