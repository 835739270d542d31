#!/usr/bin/env bash
# The simulator's predictions for issue #19, made before any large-host run:
# for each host (hardware config), mode and context, the largest batch the
# memory plan allows (asked of `foresight run`, which refuses an oversized
# batch with the plan's feasibility table before allocating anything), then a
# replay of the shipped one-GPU H200 trace of that mode (batch 16 x 32K) with
# --hardware/--batch/--context what-ifs; then `foresight plan` on each trace.
# CPU only, under a minute on one core.
# Usage: bash scripts/large-host/predict.sh [OUT]   (default runs/large-host-predict)
# Env: FORESIGHT (the binary; default build/bin/foresight), HOSTS, MODES, CONTEXTS.
# Writes OUT/<hardware>/<mode>-<context>-b<batch>/{metrics,scenario}.json,
# OUT/commands.txt (every command, in order) and OUT/points.tsv; then
# scripts/large-host/predict_table.py OUT turns them into the tables of
# bench/RESULTS-large-host.md.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
fs=${FORESIGHT:-build/bin/foresight}
[[ -x $fs ]] || { echo "predict.sh: no foresight binary at '$fs' (set FORESIGHT=path)" >&2; exit 2; }
export FORESIGHT_CONFIGS=${FORESIGHT_CONFIGS:-$root/configs}
out=${1:-runs/large-host-predict}
hosts=${HOSTS:-"h200 h200-x4-host h200-x8-host"}
modes=${MODES:-"sparda sparse-offload sparse dense"}
contexts=${CONTEXTS:-"65536 98304 131072"}
mkdir -p "$out"
: >"$out/commands.txt"
printf 'hardware\tmode\tcontext\tbatch\tdir\n' >"$out/points.tsv"
log() { printf '%s\n' "$*" >>"$out/commands.txt"; }

# The largest batch of MODE at CONTEXT on HW, from the run's feasibility table
# (same run settings as the traces: synthetic prefill, workload selections).
largest_batch() {
  local hw=$1 mode=$2 ctx=$3 msg rc=0
  # 2048 sequences fit nowhere here at 64K+ (the most is 275); the refusal's
  # memory grows with the batch asked (about 0.3 GB at 1024, 17 GB at 65536).
  local cmd=("$fs" run --model minicpm4.1-8b --hardware "$hw" --mode "$mode" --prefill synthetic
             --selections workload --batch 2048 --context "$ctx" --out /tmp/large-host-probe --quiet)
  log "${cmd[*]}   # exit 2: prints the largest batch per mode"
  msg=$("${cmd[@]}" 2>&1) || rc=$?
  [[ $rc == 2 ]] || { echo "predict.sh: expected the probe to be refused (exit 2), got $rc:" >&2; echo "$msg" >&2; exit 1; }
  awk -v m="$mode" '/largest batches at context/ {t=1; next} t && $1 == m {print $2; exit}' <<<"$msg"
}

for hw in $hosts; do
  for mode in $modes; do
    trace=traces/samples/h200-$mode-b16-32k.h5
    [[ -f $trace ]] || { echo "predict.sh: no trace $trace" >&2; exit 2; }
    for ctx in $contexts; do
      b=$(largest_batch "$hw" "$mode" "$ctx")
      [[ $b =~ ^[0-9]+$ ]] || { echo "predict.sh: no largest batch for $hw $mode $ctx (got '$b')" >&2; exit 1; }
      dir=$out/$hw/$mode-$ctx-b$b
      cmd=("$fs" replay "$trace" --hardware "$hw" --batch "$b" --context "$ctx" --out "$dir" --quiet)
      log "${cmd[*]}"
      "${cmd[@]}" >/dev/null
      printf '%s\t%s\t%s\t%s\t%s\n' "$hw" "$mode" "$ctx" "$b" "$dir" >>"$out/points.tsv"
      # One more sequence must not fit: the replay's memory model agrees with the run's plan.
      cmd=("$fs" replay "$trace" --hardware "$hw" --batch $((b + 1)) --context "$ctx" --out "$dir.plus1" --quiet)
      log "${cmd[*]}   # expect status out_of_memory"
      "${cmd[@]}" >/dev/null
      grep -q '"status": "out_of_memory"' "$dir.plus1/scenario.json" \
        || { echo "predict.sh: $hw $mode $ctx batch $((b + 1)) fits in the replay but not in the run's plan" >&2; exit 1; }
    done
  done
done
# What bounds sparda at its largest batch on the large hosts: the same replay
# with the link 2x, 4x and unlimited (10000 GB/s), OUT/sens/<hw>-<context>-<GB/s>.
for hw in $hosts; do
  [[ $hw == h200 ]] && continue
  for ctx in $contexts; do
    b=$(awk -F'\t' -v h="$hw" -v c="$ctx" '$1 == h && $2 == "sparda" && $3 == c {print $4}' "$out/points.tsv")
    [[ -n $b ]] || continue
    for g in 109.6 219.2 10000; do
      cmd=("$fs" replay traces/samples/h200-sparda-b16-32k.h5 --hardware "$hw" --batch "$b" --context "$ctx"
           --pcie-gbps "$g" --out "$out/sens/$hw-$ctx-$g" --quiet)
      log "${cmd[*]}"
      "${cmd[@]}" >/dev/null
    done
  done
done

# The capacity plan over the same trace per mode, on every host: batch (a
# ladder plus every largest batch above), GPU cache size and gather CTAs
# searched within memory; a 1000 ms target leaves throughput unconstrained by
# latency. OUT/plan-<mode>/plan.json.
mapfile -t batches < <({ printf '%s\n' 1 2 4 8 16 32 48 64 96 128 192 256; cut -f4 "$out/points.tsv" | tail -n +2; } | sort -un)
read -r -a host_list <<<"$hosts"
read -r -a ctx_list <<<"$contexts"
for mode in $modes; do
  cmd=("$fs" plan --trace "traces/samples/h200-$mode-b16-32k.h5" --hardware "${host_list[@]}" --context "${ctx_list[@]}"
       --batches "${batches[@]}" --slo-tpot-ms 1000 --threads 1 --out "$out/plan-$mode" --quiet)
  log "${cmd[*]}"
  "${cmd[@]}" >/dev/null
done
echo "predict.sh: $(($(wc -l <"$out/points.tsv") - 1)) points and $(wc -w <<<"$modes") plans under $out (commands: $out/commands.txt)"
