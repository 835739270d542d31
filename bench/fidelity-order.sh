#!/usr/bin/env bash
# Does a run's step time depend on what ran before it in the same process?
# (sparda, batch 16, 32K, 32 gather CTAs took 11.9 ms after a 8-CTA run and
# 10.5 ms after a 16-CTA run, twice each, bench/RESULTS-fidelity.md.)
# Runs the configuration alone in a fresh process, and after each CTA count
# in one process, REPS times each. GPU programs from scripts/device-bundle.sh.
# Usage: bash bench/fidelity-order.sh [REPS]   (results under $OUT/order)
set -uo pipefail
reps=${1:-2}
bin=${FORESIGHT_BIN_DIR:-.device/bin}
out=${OUT:-/tmp/out}/order; mkdir -p "$out"
export FORESIGHT_CONFIGS=${FORESIGHT_CONFIGS:-$PWD/configs}
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}:$PWD/.device/lib"
common=(--backend cuda --model minicpm4.1-8b --hardware h200 --selections 0.85 --trace on --modes sparda
        --contexts 32768 --batches 16 --steps 8 --warmup 2)
for r in $(seq "$reps"); do
  for ctas in 32 8,32 16,32 4,32; do
    echo "== $(date -u +%T) rep $r: gather CTAs $ctas"
    "$bin/bench_runtime" "${common[@]}" --gather-ctas "$ctas" --out "$out/r$r-${ctas/,/-}" | grep "^\["
  done
done
