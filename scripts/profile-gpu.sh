#!/usr/bin/env bash
# One command on a GPU machine that produces the simulator's calibration of
# that GPU: records the profile grid with the real runtime (the `cal` group of
# bench/fidelity-collect.sh: no-offload modes over batch 1-64 x context
# 8K-128K, the gather kernel over 2-64 CTAs, sparda beside gathers, an LRU
# working set), then fits it with `foresight profile`, printing progress.
# Programs from scripts/device-bundle.sh (.device/bin); about 140 s on the H200 (2026-12-03).
# Usage: bash scripts/profile-gpu.sh HARDWARE [OUT.json]
#   (default OUT: $OUT/HARDWARE.json, else configs/calibration/HARDWARE.json)
set -euo pipefail
hw=${1:?usage: profile-gpu.sh HARDWARE [OUT.json]}
bin=${FORESIGHT_BIN_DIR:-.device/bin}
work=${FIDELITY_WORK:-/tmp/fidelity}
dest=${2:-${OUT:+$OUT/$hw.json}}
dest=${dest:-configs/calibration/$hw.json}
FIDELITY_HARDWARE=$hw FIDELITY_WORK=$work bash "$(dirname "$0")/../bench/fidelity-collect.sh" cal
driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
"$bin/foresight" profile "$work/cal" --hardware "$hw" --gpu-name "$gpu" --driver "$driver" \
  --command "bash scripts/profile-gpu.sh $hw ($(date -u +%F))" --out "$dest"
