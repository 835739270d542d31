#!/usr/bin/env bash
# Issue #18's time-to-first-token rows on the H200 (bench/RESULTS-prefill.md).
# Runs ON the GPU machine from the repository root with .device/bin carried:
#   bash scripts/h200/prefill-ttft.sh OUT [PART...]
# PARTs (default all):
#   checks   gpu_check_runtime (CPU vs CUDA engine, sparse prefill cases included)
#   kernels  gpu_check_prefill (kernels against the CPU), compute-sanitizer memcheck
#            of its quick cases, bench_sparse_prefill (one layer, 16K-128K)
#   minicpm  MiniCPM4.1-8B shape, batch 1, real prefill at 16K-128K: dense in
#            512-token chunks and as one chunk, dynamic sparse at recalls 0.95,
#            0.8 and 0.5 (traced: each head's pattern, tiles, recall; traces kept)
#   fixed    each pattern alone (triangular, interval-slash, block-cluster) at
#            recall 0.8, 16K and 32K
#   llama    Llama-3.1-8B shape: dense (one chunk) and dynamic sparse 0.8 at 32K
#            and 128K
#   smollm2  the real model's accuracy (scripts/real-model/sparse-prefill.sh)
# Synthetic weights (MiniCPM, Llama shapes): random projections give diffuse
# attention, so a recall target keeps more tiles than a trained model would;
# the recall levels sweep the tile share, the real model measures accuracy.
set -uo pipefail
out=${1:?usage: prefill-ttft.sh OUT [PART...]}; shift
parts=${*:-checks kernels minicpm fixed llama smollm2}
bin=${BIN:-.device/bin}
mkdir -p "$out"; exec > >(tee -a "$out/ttft.log") 2>&1
echo "== $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) parts: $parts"
common=(--backend cuda --hardware h200 --modes dense --batches 1 --prefill real --steps 2 --warmup 0 --trace on
        --keep-traces ops)
for part in $parts; do
  echo "== $(date -u +%TZ) $part"
  case $part in
    checks) "$bin/gpu_check_runtime" > "$out/gpu_check_runtime.log" 2>&1; echo "gpu_check_runtime rc=$?" ;;
    kernels)
      "$bin/gpu_check_prefill" > "$out/gpu_check_prefill.log" 2>&1; echo "gpu_check_prefill rc=$?"
      compute-sanitizer --tool memcheck --error-exitcode 9 "$bin/gpu_check_prefill" --quick \
        > "$out/memcheck_prefill.log" 2>&1; echo "memcheck rc=$?"
      "$bin/bench_sparse_prefill" --reps 3 > "$out/bench_sparse_prefill.jsonl" 2> "$out/bench_sparse_prefill.err"
      echo "bench_sparse_prefill rc=$?" ;;
    minicpm)
      "$bin/bench_runtime" "${common[@]}" --model minicpm4.1-8b --contexts 16384,32768,65536,131072 \
        --prefill-attention dense,dynamic-sparse --prefill-chunk 0,whole --prefill-recall 0.95,0.8,0.5 \
        --out "$out/minicpm" || echo "FAILED minicpm" ;;
    fixed)
      "$bin/bench_runtime" "${common[@]}" --model minicpm4.1-8b --contexts 16384,32768 \
        --prefill-attention triangular,interval-slash,block-cluster --prefill-recall 0.8 \
        --out "$out/fixed" || echo "FAILED fixed" ;;
    llama)
      "$bin/bench_runtime" "${common[@]}" --model llama3.1-8b --contexts 32768,131072 \
        --prefill-attention dense,dynamic-sparse --prefill-chunk whole --prefill-recall 0.8 \
        --out "$out/llama" || echo "FAILED llama" ;;
    smollm2)
      FORESIGHT="$bin/foresight" bash scripts/real-model/sparse-prefill.sh "$out/smollm2" cuda ;;
    *) echo "unknown part $part" ;;
  esac
done
echo "== $(date -u +%FT%TZ) done"
