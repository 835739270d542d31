#!/usr/bin/env bash
# Builds the CUDA targets here (the GPU machine cannot install anything) and
# copies the GPU programs into .device/bin, the folder a device run carries.
# Usage: bash scripts/device-bundle.sh   (then carry ".device")
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FORESIGHT_BUILD_DIR:-$root/build}
FORESIGHT_BUILD_DIR="$build" bash "$root/scripts/build.sh" -DFORESIGHT_CUDA=ON
rm -rf "$root/.device/bin" && mkdir -p "$root/.device/bin"
find "$build" -type f -perm -u+x \( -name 'gpu_check_*' -o -name 'bench_*' -o -name 'foresight' \
  -o -name 'test_*' \) -not -path '*/CMakeFiles/*' -exec cp {} "$root/.device/bin/" \;
du -sh "$root/.device/bin"; ls "$root/.device/bin"
