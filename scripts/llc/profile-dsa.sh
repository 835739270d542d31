#!/usr/bin/env bash
# Issue #15: records the DSA modes' calibration grid and held-out runs with
# the real runtime, then extends the H200 calibration with their stage tables
# (`foresight profile --extend`: index_score, token_topk, attention/dsa,
# qkvf_gemm/dsa, rope/dsa, d2d_gather/token, h2d_gather/token; the block
# modes' tables stay as scripts/profile-gpu.sh measured them).
# Runs ON the GPU machine from the repository root with .device/bin carried
# (scripts/device-bundle.sh); about 75 s on the H200 (2026-12-04).
# Usage: bash scripts/llc/profile-dsa.sh   (writes under $OUT: cal-traces.tar.xz,
#        heldout.jsonl, the training trace dsa-b4-c32768-g16-k0.h5, h200.json)
set -u
B=${FORESIGHT_BIN_DIR:-.device/bin}; out=${OUT:-/tmp/out}; mkdir -p "$out"
if ! ldconfig -p | grep -q libcudnn.so.9; then  # cuDNN from PyTorch's pip package (see device-run.sh)
  site=$(python3 -c "import nvidia, os; print(os.path.dirname(list(nvidia.__path__)[0]))" 2>/dev/null)
  [[ -n $site && -d $site/nvidia/cudnn/lib ]] && export LD_LIBRARY_PATH="$site/nvidia/cudnn/lib:${LD_LIBRARY_PATH:-}"
fi
export FORESIGHT_CONFIGS=${FORESIGHT_CONFIGS:-$PWD/configs}
exec > >(tee -a "$out/device.log") 2>&1
echo "== $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
W=/tmp/dsa
common=(--backend cuda --model minicpm4.1-8b --hardware h200 --trace on --selections model --warmup 2)
echo "== $(date -u +%T) calibration grid"
"$B/bench_runtime" "${common[@]}" --steps 6 --keep-traces ops --modes dsa \
  --contexts 8192,32768,131072 --batches 1,2,8,32 --out $W/cal/dsa
"$B/bench_runtime" "${common[@]}" --steps 6 --keep-traces ops --modes dsa-offload \
  --contexts 32768,131072 --batches 1,8,32 --out $W/cal/off
echo "== $(date -u +%T) held out (off the grid: batch 4 and 16, context 65536)"
"$B/bench_runtime" "${common[@]}" --steps 8 --modes dsa,dsa-offload --contexts 32768,65536 \
  --batches 4,16 --out $W/heldout
"$B/bench_runtime" "${common[@]}" --steps 8 --modes dsa --contexts 131072 --batches 4 --out $W/heldout
echo "== $(date -u +%T) training trace (with its token selections)"
"$B/bench_runtime" "${common[@]}" --steps 12 --keep-traces all --modes dsa --contexts 32768 --batches 4 \
  --out $W/train
cp $W/heldout/results.jsonl "$out/heldout.jsonl"
cp $W/train/traces/*.h5 "$out/"
(cd $W && tar -cJf "$out/cal-traces.tar.xz" cal)
"$B/foresight" profile $W/cal --extend configs/calibration/h200.json --hardware h200 \
  --gpu-name "$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)" \
  --driver "$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -1)" \
  --command "bash scripts/llc/profile-dsa.sh ($(date -u +%F))" --out "$out/h200.json"
echo "== $(date -u +%T) done"
