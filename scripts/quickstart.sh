#!/usr/bin/env bash
# README command 1: install what is missing, build, and run the main job on
# its built-in default.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/setup.sh"
bash "$root/scripts/build.sh"
cd "$root"
"$root/build/bin/foresight" plan --out runs/plan
echo "open runs/plan/report.html in a browser (or read runs/plan/report.md)"
