#!/usr/bin/env bash
# Full `foresight run`s (trace, timeline, metrics) of sparda, dsa and sparse at
# 32K x 16 on the H200: the step time a user of `run` sees, traced and
# untraced. Runs ON the GPU machine with .device/bin carried.
# Usage: bash scripts/h200/full-runs-b16.sh OUT
set -uo pipefail
out=${1:?usage: full-runs-b16.sh OUT}
bin=${BIN:-.device/bin}
mkdir -p "$out"
for mode in sparda dsa sparse; do
  sel=(--selections workload); [[ $mode == dsa ]] && sel=()
  for tr in trace no-trace; do
    flag=(); [[ $tr == no-trace ]] && flag=(--no-trace)
    "$bin/foresight" run --model minicpm4.1-8b --backend cuda --hardware h200 --mode $mode --batch 16 --context 32768 \
      --prefill synthetic "${sel[@]}" --steps 24 --warmup 3 "${flag[@]}" --quiet --out "$out/$mode-$tr" || echo "FAILED $mode $tr"
    rm -f "$out/$mode-$tr/trace.h5"; [[ -f $out/$mode-$tr/timeline.json ]] && gzip -f "$out/$mode-$tr/timeline.json"
    python3 -c "import json; d = json.load(open('$out/$mode-$tr/metrics.json'))['decode']; print('$mode $tr step_ms', d['step_ms'])" \
      || true
  done
done
