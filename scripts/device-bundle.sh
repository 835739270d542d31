#!/usr/bin/env bash
# Builds the CUDA targets here (the GPU machine cannot install anything) and
# copies the GPU programs into .device/bin, the folder a device run carries.
# Usage: bash scripts/device-bundle.sh   (then carry ".device")
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${FORESIGHT_BUILD_DIR:-$root/build}
FORESIGHT_BUILD_DIR="$build" bash "$root/scripts/build.sh" -DFORESIGHT_CUDA=ON
rm -rf "$root/.device/bin" && mkdir -p "$root/.device/bin"
# Only programs that need the GPU (the carry limit is 64 MiB); debug info stripped.
find "$build" -type f -perm -u+x \( -name 'gpu_check_*' -o -name 'bench_*' -o -name 'foresight' \) \
  -not -path '*/CMakeFiles/*' -exec cp {} "$root/.device/bin/" \;
for f in "$root"/.device/bin/*; do
  case $(basename "$f") in bench_sim_*|bench_cache_*) rm -f "$f";; *) strip --strip-debug "$f";; esac
done
du -sh "$root/.device/bin"; ls "$root/.device/bin"
