#!/usr/bin/env bash
# Issue #17's prefetch paths side by side: the SM-load gather kernel, the
# Hopper bulk-copy (TMA) gather and the copy engines. Runs ON the GPU machine
# from the repository root with .device/bin carried. Usage:
#   bash scripts/h200/prefetch-paths.sh OUT [PART...]
# PARTs (default all):
#   kernels  bench_kernels_sparse --gather-only: each path's rate over 4-64 KiB
#            blocks (and the copy engines') and what a cuBLAS GEMM beside it loses
#   check    gpu_check_sparse (both kernels against the CPU, bitwise), then
#            gpu_check_runtime with kv_gather=sm_loads and =bulk (every mode)
#   sweep    sparda untraced (the figure a user gets) over 32K x batch 4/16/32,
#            sm_loads at 8/16/32 CTAs and bulk at 4/8/12/16, REPS times; and
#            128K x 4/16 at each path's default CTAs
#   stages   bulk with 2, 4 and max pieces in flight per CTA, 32K x 16/32, untraced
#   traced   per-op tracing on (exposed H2D): sparda by both paths at 32K/128K x
#            4/16/32 (traces kept, for bench/fidelity_dsa.py), plus sparse,
#            sparse-offload and sparda-no-offload
#   cache    the --cache-blocks 128 row (31 LRU slots beyond top-k) by both kernels
# Block modes replay workload selections (reuse 0.85); paths at their default
# CTAs (config::default_gather_ctas) unless a part says.
set -uo pipefail
out=${1:?usage: prefetch-paths.sh OUT [PART...]}; shift
parts=${*:-kernels check sweep stages traced cache}
bin=${BIN:-.device/bin}
steps=${STEPS:-6}
# The memory plan's hardware config: the card this runs on unless HW says.
hw=${HW:-$(nvidia-smi --query-gpu=name --format=csv,noheader | grep -q H200 && echo h200 || echo h100-sxm)}
mkdir -p "$out"; exec > >(tee -a "$out/prefetch-paths.log") 2>&1
echo "== $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader) parts: $parts hardware: $hw"
common=(--backend cuda --hardware "$hw" --steps "$steps" --warmup 2 --selections 0.85)
bench() {  # bench PATH NAME ARGS...: bench_runtime with kv_gather=PATH into OUT/NAME
  local path=$1 name=$2; shift 2
  FORESIGHT_KV_GATHER=$path "$bin/bench_runtime" "${common[@]}" "$@" --out "$out/$name" || echo "FAILED $name"
}
reps=${REPS:-2}
for part in $parts; do
  echo "== $(date -u +%FT%TZ) $part"
  case $part in
    kernels)
      "$bin/bench_kernels_sparse" --gather-only --reps 7 --csv "$out/kernels.csv" || echo "FAILED kernels" ;;
    check)
      "$bin/gpu_check_sparse" > "$out/gpu_check_sparse.log" 2>&1
      echo "gpu_check_sparse exit $?"; tail -1 "$out/gpu_check_sparse.log"
      for path in sm_loads bulk; do
        FORESIGHT_KV_GATHER=$path "$bin/gpu_check_runtime" > "$out/gpu_check_runtime-$path.log" 2>&1
        echo "gpu_check_runtime ($path) exit $?"
      done ;;
    sweep)
      for rep in $(seq "$reps"); do
        bench sm_loads sweep-sm_loads-r$rep --trace off --contexts 32768 --batches 4,16,32 --gather-ctas 8,16,32 \
          --modes sparda
        bench bulk sweep-bulk-r$rep --trace off --contexts 32768 --batches 4,16,32 --gather-ctas 4,8,12,16 --modes sparda
      done
      for path in sm_loads bulk; do
        bench $path sweep128-$path --trace off --contexts 131072 --batches 4,16 --modes sparda
      done ;;
    stages)
      for stages in 2 4 0; do
        FORESIGHT_GATHER_STAGES=$stages bench bulk stages-$stages --trace off --contexts 32768 --batches 16,32 \
          --modes sparda
      done ;;
    traced)
      for path in sm_loads bulk; do
        bench $path traced-$path --trace on --contexts 32768,131072 --batches 4,16,32 --modes sparda \
          --keep-traces ops
      done
      bench bulk traced-ref --trace on --contexts 32768,131072 --batches 16,32 \
        --modes sparse,sparse-offload,sparda-no-offload ;;
    cache)
      for path in sm_loads bulk; do
        bench $path cache-$path --trace on --contexts 32768 --batches 16 --cache-blocks 0,31 --modes sparda
      done ;;
    *) echo "unknown part $part" ;;
  esac
done
echo "== $(date -u +%FT%TZ) done"
