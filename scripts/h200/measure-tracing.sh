#!/usr/bin/env bash
# Issue #17: tracing overhead of every mode on the H200 (bench_runtime --trace
# both: the same configuration untraced, step events only, and traced, per-op
# CUDA events written to a real trace.h5), plus a check that the kernel
# options reach the trace. Runs ON the GPU machine from the repository root
# with .device/bin carried. Usage: bash scripts/h200/measure-tracing.sh OUT
# (env: CONTEXTS, BATCHES, STEPS)
set -uo pipefail
out=${1:?usage: measure-tracing.sh OUT}
bin=${BIN:-.device/bin}
contexts=${CONTEXTS:-4096,32768}; batches=${BATCHES:-1,16}; steps=${STEPS:-24}
mkdir -p "$out"; exec > >(tee -a "$out/measure.log") 2>&1
echo "== $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
common=(--backend cuda --hardware h200 --contexts "$contexts" --batches "$batches" --selections 0.85
        --trace both --steps "$steps" --warmup 3)
# Block modes in one process (weights uploaded once), the DSA modes in
# another; dense (which selects nothing) in a third, with its own selections.
"$bin/bench_runtime" "${common[@]}" --modes sparse,sparse-offload,sparda-no-prefetch,sparda,sparda-no-offload \
  --out "$out/block" || echo "FAILED block modes"
"$bin/bench_runtime" "${common[@]}" --modes dsa,dsa-offload --out "$out/dsa" || echo "FAILED dsa modes"
"$bin/bench_runtime" "${common[@]/0.85/model}" --modes dense --out "$out/dense" || echo "FAILED dense"
# The kernel options a run was given are in its trace header and config.json.
"$bin/foresight" run --model minicpm4.1-8b --backend cuda --hardware h200 --mode sparda --batch 2 --context 4096 --prefill synthetic \
  --steps 2 --kernel decode_attention=pipe2 --kernel graph_marks=inline --out "$out/kernels-run" --quiet \
  && "$bin/foresight" inspect "$out/kernels-run/trace.h5" --json > "$out/kernels-run/inspect.json" \
  && python3 - "$out/kernels-run" <<'PY'
import json, sys
d = sys.argv[1]
cfg = json.load(open(d + "/config.json"))["run"]["kernels"]
print("config.json run.kernels:", cfg)
assert cfg["decode_attention"] == "pipe2" and cfg["graph_marks"] == "inline", cfg
print("inspect mentions kernels:", "decode_attention" in open(d + "/inspect.json").read())
PY
rm -f "$out/kernels-run/trace.h5" "$out/kernels-run/timeline.json"
# Dense decode at small batch: per-stage times (metrics.json stages_ms) and
# the Perfetto timeline, traced, for the per-stage roofline table.
for b in 1 4; do
  "$bin/foresight" run --model minicpm4.1-8b --backend cuda --hardware h200 --mode dense --batch $b --context 4096 --prefill synthetic \
    --steps 16 --warmup 3 --out "$out/dense-b$b" --quiet || echo "FAILED dense-b$b"
  rm -f "$out/dense-b$b/trace.h5"
done
python3 - "$out" <<'PY'
import json, sys, collections
rows = collections.defaultdict(dict)
for part in ("block", "dsa", "dense"):
    try:
        lines = open(f"{sys.argv[1]}/{part}/results.jsonl").read().splitlines()
    except FileNotFoundError:
        continue
    for l in lines:
        r = json.loads(l)
        if not r.get("graph", True) or r.get("status") != "ok":
            continue
        rows[(r["mode"], r["context"], r["batch"])][r["trace"]] = r["step_ms"]["mean"]
print("| mode | context | batch | untraced ms | traced ms | overhead |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for (mode, ctx, b), v in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
    if False in v and True in v:
        print(f"| {mode} | {ctx // 1024}K | {b} | {v[False]:.3f} | {v[True]:.3f} | {100 * (v[True] / v[False] - 1):+.1f}% |")
PY
echo "== $(date -u +%FT%TZ) done"
