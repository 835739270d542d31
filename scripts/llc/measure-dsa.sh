#!/usr/bin/env bash
# Issue #15: the DSA modes decoding on the GPU (synthetic indexer, weights and
# prefill; MiniCPM4.1-8B shapes, top-2048 tokens), next to the block modes at
# the same settings, with per-op traces kept for replay what-ifs.
# Runs ON the GPU machine from the repository root with .device/bin carried.
# Usage: bash scripts/llc/measure-dsa.sh OUT   (env: MODES, BATCHES, CONTEXTS, STEPS, BUDGET_S,
#        KEEP_TRACES: names of runs whose trace.h5 is kept, e.g. "dsa-c32768-b1")
set -uo pipefail
out=${1:?usage: measure-dsa.sh OUT}
fs=${FORESIGHT:-.device/bin/foresight}
modes=${MODES:-dsa dsa-offload sparse}; batches=${BATCHES:-1 4 16}; contexts=${CONTEXTS:-32768}
steps=${STEPS:-12}; keep=${KEEP_TRACES:-}
budget=${BUDGET_S:-300}; t0=$(date +%s)  # start no run after BUDGET_S seconds
mkdir -p "$out"; exec > >(tee -a "$out/measure.log") 2>&1
echo "== $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
for c in $contexts; do
  for b in $batches; do
    for mode in $modes; do
      name="$mode-c$c-b$b"
      (( $(date +%s) - t0 < budget )) || { echo "SKIPPED $name (budget)"; continue; }
      "$fs" run --model minicpm4.1-8b --backend cuda --hardware h200 --mode "$mode" --batch "$b" --context "$c" \
        --prefill synthetic --steps "$steps" --warmup 2 --quiet --out "$out/$name" > "$out/$name.log" 2>&1 \
        || { echo "FAILED $name"; tail -3 "$out/$name.log"; continue; }
      python3 - "$out/$name" "$name" <<'PY'
import json, sys
m = json.load(open(sys.argv[1] + "/metrics.json"))
st = m.get("stages_ms", {})
print(f"{sys.argv[2]:<24} step {m['decode']['step_ms']['mean']:.3f} ms  " +
      "  ".join(f"{k} {st[k]:.2f}" for k in ("index_score", "token_topk", "d2d_gather", "h2d_gather", "attention")
                if k in st) + " (ms, all steps)")
PY
      rm -f "$out/$name/timeline.json"
      [[ " $keep " == *" $name "* ]] || rm -f "$out/$name/trace.h5"
    done
  done
done
echo "== $(date -u +%FT%TZ) done"
