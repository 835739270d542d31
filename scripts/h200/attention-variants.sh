#!/usr/bin/env bash
# Issue #17: dense decode at batch 1 spends most of its time above the HBM
# roofline in attention (bench/RESULTS-runtime-h200.md). Each split-KV decode
# attention variant (run --kernel decode_attention=...), traced, with its
# per-stage roofline table. Runs ON the GPU machine from the repository root
# with .device/bin carried. Usage: bash scripts/h200/attention-variants.sh OUT
# (env: VARIANTS, CONTEXTS, BATCH)
set -uo pipefail
out=${1:?usage: attention-variants.sh OUT}
bin=${BIN:-.device/bin}
variants=${VARIANTS:-pipe3 warp pipe2 pipe6 flat3}; contexts=${CONTEXTS:-4096 32768}; batch=${BATCH:-1}
mkdir -p "$out"; exec > >(tee -a "$out/variants.log") 2>&1
for c in $contexts; do
  for v in $variants; do
    name="dense-c$c-b$batch-$v"
    "$bin/foresight" run --model minicpm4.1-8b --backend cuda --hardware h200 --mode dense --batch "$batch" \
      --context "$c" --prefill synthetic --steps 16 --warmup 3 --kernel decode_attention="$v" --quiet \
      --out "$out/$name" > /dev/null || { echo "FAILED $name"; continue; }
    echo "$name: $(python3 bench/stage_roofline.py "$out/$name" | grep -E '^\| attention|^mean decode')"
    rm -f "$out/$name/trace.h5" "$out/$name/timeline.json" "$out/$name/tokens.json"
  done
done
