#!/usr/bin/env bash
# Issue #17's decode and prefill tables on the H200. Runs ON the GPU machine
# from the repository root with .device/bin carried. Usage:
#   bash scripts/h200/tables.sh OUT [PART...]
# PARTs (default all): table-block, table-own (every mode over context 32K-128K x batch 4-64,
# per-op tracing on for the exposed-H2D share), largest (each mode at the
# largest batch the memory plan fits on this host, 32K and 128K), cache (the
# issue's --cache-blocks 128 row: sparda 32K x 16, LRU, 31 regular slots
# beyond top-k 96 and the tail), prefill (real prefill of one sequence at
# 32K-128K: sparda copies each chunk's KV to the host on the side stream,
# sparse-offload inline, sparse keeps it on the GPU; bench_runtime prefills
# once untimed first, for cuDNN's set-up). Block modes replay workload
# selections (reuse 0.85); dense and the DSA modes select their own.
set -uo pipefail
out=${1:?usage: tables.sh OUT [PART...]}; shift
parts=${*:-table-block table-own largest cache prefill}
bin=${BIN:-.device/bin}
steps=${STEPS:-6}
BLOCK=sparse,sparse-offload,sparda-no-prefetch,sparda,sparda-no-offload
mkdir -p "$out"; exec > >(tee -a "$out/tables.log") 2>&1
echo "== $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) parts: $parts"
common=(--backend cuda --hardware h200 --trace on --steps "$steps" --warmup 2)
for part in $parts; do
  case $part in
    table-block)
      "$bin/bench_runtime" "${common[@]}" --contexts 32768,65536,131072 --batches 4,16,32,64 --selections 0.85 \
        --modes $BLOCK --out "$out/table-block" || echo "FAILED table block" ;;
    table-own)
      "$bin/bench_runtime" "${common[@]}" --contexts 32768,65536,131072 --batches 4,16,32,64 --selections model \
        --modes dense,dsa,dsa-offload --out "$out/table-own" || echo "FAILED table own" ;;
    largest)
      "$bin/bench_runtime" "${common[@]}" --contexts 32768,131072 --batches max --selections 0.85 \
        --modes $BLOCK --out "$out/largest-block" || echo "FAILED largest block"
      "$bin/bench_runtime" "${common[@]}" --contexts 32768,131072 --batches max --selections model \
        --modes dense,dsa,dsa-offload --out "$out/largest-own" || echo "FAILED largest own" ;;
    cache)
      "$bin/bench_runtime" "${common[@]}" --contexts 32768 --batches 16 --selections 0.85 --cache-blocks 0,31 \
        --modes sparda,sparda-no-offload --keep-traces ops --out "$out/cache" || echo "FAILED cache" ;;
    prefill)
      "$bin/bench_runtime" --backend cuda --hardware h200 --prefill real --steps 2 --warmup 1 --trace off \
        --contexts 32768,65536,131072 --batches 1 --selections 0.85 --modes sparse,sparse-offload,sparda \
        --out "$out/prefill" || echo "FAILED prefill" ;;
    *) echo "unknown part $part" ;;
  esac
done
echo "== $(date -u +%FT%TZ) done"
