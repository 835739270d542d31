#!/usr/bin/env bash
# Issue #15: decode with a real GPU L2 persisting set-aside (run --l2-reserve)
# (MODES=dsa: the DSA mode, its own indexer's selections)
# against none, for what bench/RESULTS-llc.md reports. MiniCPM4.1-8B shapes,
# synthetic weights and prefill, workload selections (preset `assumed`, the
# shipped H200 traces' setting), per-op tracing (attention time per layer).
# Runs ON the GPU machine from the repository root with .device/bin carried.
# Usage: bash scripts/llc/measure-l2.sh OUT   (env: MODES, BATCHES, CONTEXTS, RESERVES in MiB;
#        a reserve above the GPU's maximum is clamped to it, and the run says so; BUDGET_S)
set -uo pipefail
out=${1:?usage: measure-l2.sh OUT}
fs=${FORESIGHT:-.device/bin/foresight}
modes=${MODES:-sparse sparda}; batches=${BATCHES:-1 4 16}; contexts=${CONTEXTS:-32768 131072}
reserves=${RESERVES:-0 8 16 24 1024}
budget=${BUDGET_S:-540}; t0=$(date +%s)  # start no run after BUDGET_S seconds (one device call: 600 s)
mkdir -p "$out"; exec > >(tee -a "$out/measure.log") 2>&1
echo "== $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
for mode in $modes; do
  for c in $contexts; do
    for b in $batches; do
      for r in $reserves; do
        name="$mode-c$c-b$b-r$r"
        (( $(date +%s) - t0 < budget )) || { echo "SKIPPED $name (budget)"; continue; }
        sel=(--selections workload --workload assumed)  # block modes; dsa selects with its indexer
        [[ $mode == dsa* ]] && sel=()
        "$fs" run --model minicpm4.1-8b --backend cuda --hardware h200 --mode "$mode" --batch "$b" --context "$c" \
          --prefill synthetic "${sel[@]}" --steps 12 --warmup 2 --l2-reserve "$r" \
          --quiet --out "$out/$name" > "$out/$name.log" 2>&1 || { echo "FAILED $name"; tail -3 "$out/$name.log"; continue; }
        "$fs" inspect --json "$out/$name/trace.h5" > "$out/$name/inspect.json" 2>/dev/null
        python3 - "$out/$name" "$name" <<'PY'
import json, sys
m = json.load(open(sys.argv[1] + "/metrics.json"))
steps = m["decode"]["steps"]
att = m.get("stages_ms", {}).get("attention", float("nan"))
l2 = m.get("l2", {})
try:  # steady decode steps only, per step (inspect's stage share)
    st = {s["stage"]: s["ns"] for s in json.load(open(sys.argv[1] + "/inspect.json"))["stage_share"]["stages"]}
    per = lambda k: st.get(k, 0) * 1e-6 / steps
    steady = f"steady per step: attention {per('attention'):.3f} ms d2d_gather {per('d2d_gather'):.3f} ms  "
except Exception:
    steady = ""
print(f"{sys.argv[2]:<28} step {m['decode']['step_ms']['mean']:.3f} ms  attention(all steps) {att:.2f} ms  "
      f"{steady}reserve {l2.get('reserve_bytes', 0) / 2**20:.1f} MiB windows {len(l2.get('windows', []))}")
PY
        rm -f "$out/$name/timeline.json" "$out/$name/trace.h5"
      done
    done
  done
done
echo "== $(date -u +%FT%TZ) done"
