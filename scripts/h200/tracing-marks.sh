#!/usr/bin/env bash
# Issue #17: where the tracing overhead of sparda and dsa at batch 16 comes
# from. The same configurations untraced and traced with the trace marks of
# the main and the side stream as graph branches or inline
# (FORESIGHT_GRAPH_MARKS / FORESIGHT_SIDE_MARKS: the kernel options
# graph_marks / side_marks, recorded in each run). Runs ON the GPU machine
# from the repository root with .device/bin carried.
# Usage: bash scripts/h200/tracing-marks.sh OUT   (env: MODES, CONTEXTS, BATCHES)
set -uo pipefail
out=${1:?usage: tracing-marks.sh OUT}
bin=${BIN:-.device/bin}
modes=${MODES:-sparda,dsa}; contexts=${CONTEXTS:-32768}; batches=${BATCHES:-16}
mkdir -p "$out"; exec > >(tee -a "$out/marks.log") 2>&1
for v in branch-branch inline-branch branch-inline inline-inline; do
  FORESIGHT_GRAPH_MARKS=${v%-*} FORESIGHT_SIDE_MARKS=${v#*-} "$bin/bench_runtime" --backend cuda --hardware h200 \
    --modes "$modes" --contexts "$contexts" --batches "$batches" --selections 0.85 --trace both --steps 24 --warmup 3 \
    --out "$out/$v" || echo "FAILED $v"
done
python3 - "$out" <<'PY'
import json, sys, os
print("| graph-side marks | mode | context | batch | untraced ms | traced ms | overhead |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
for v in ("branch-branch", "inline-branch", "branch-inline", "inline-inline"):
    f = f"{sys.argv[1]}/{v}/results.jsonl"
    if not os.path.exists(f):
        continue
    rows = {}
    for l in open(f):
        r = json.loads(l)
        if r.get("status") == "ok" and r.get("graph", True):
            rows.setdefault((r["mode"], r["context"], r["batch"]), {})[r["trace"]] = r["step_ms"]["mean"]
    for (m, c, b), t in sorted(rows.items()):
        if False in t and True in t:
            print(f"| {v} | {m} | {c // 1024}K | {b} | {t[False]:.3f} | {t[True]:.3f} | {100 * (t[True] / t[False] - 1):+.1f}% |")
PY
