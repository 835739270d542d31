#!/usr/bin/env bash
# Issue #19: SparDA's max-batch decode throughput on ONE H200 of a large host
# (nvidia-h200-x4: 512 GiB, nvidia-h200-x8: 560 GiB), measured, to compare with
# the simulator's predictions in bench/RESULTS-large-host.md.
#
# Runs ON the GPU machine from the repository root, with the programs of
# scripts/device-bundle.sh carried in .device/bin (as scripts/device-run.sh).
# For each context and mode: ask `foresight run` for the largest batch the
# memory plan allows (an oversized request is refused, exit 2, with the plan's
# feasibility table, before anything is allocated), then decode at that batch
# with per-op tracing (synthetic prefill, workload selections of the preset `assumed`, reuse 0.85:
# the settings of the shipped traces/samples/h200-*-b16-32k.h5 the predictions
# replay). Pinned host memory is sized by the hardware config (the kind's
# documented memory, configs/hardware/h200-x{4,8}-host.toml), never by MemTotal,
# which starts small on those machines and grows as memory is used; MemTotal
# and MemAvailable are sampled every 5 s during each run (memlog) and the run's
# own pinning time is in its metrics.json (pinned.pin_ms).
#
# Usage: bash scripts/large-host/measure.sh [options]
#   --dry-run            small batch on any H200 kind (also the one-GPU one):
#                        batch 2, 64K, 2 steps after 1 warm-up, every mode;
#                        the largest batches are still asked for and logged
#   --hardware NAME      hardware config (default: from the GPU count:
#                        1 -> h200, 4 -> h200-x4-host, 8 -> h200-x8-host)
#   --modes LIST         comma list, in run order (default sparda,sparse,sparse-offload,dense)
#   --contexts LIST      comma list of tokens (default 131072,65536,98304)
#   --batch N            decode at N instead of the largest batch
#   --steps N, --warmup N  timed / untimed decode steps (default 6 / 2)
#   --budget-s S         start no run after S seconds; each run is stopped at
#                        S (default 540: one device call lasts at most 600 s)
#   --probe-batch N      the oversized batch asked for the table (default 4096)
#   --backend B, --model M  for a smoke test off the GPU (default cuda, minicpm4.1-8b)
#   --force              run even if the config's host memory exceeds what this
#                        kind documents (pinning past it gets the process killed)
# Writes under $OUT (default /tmp/out), within the device tool's limits (at
# most 8 files of 16 MiB): measure.log, summary.tsv, results.tar.gz (per run:
# metrics.json, config.json, tokens.json, run.log, memlog.tsv; probe tables)
# and traces.tar (trace.h5 and timeline.json.gz per run; split into
# traces.tar.part-* of 15 MiB when larger).
# A full large-host sweep takes longer than one call: split it by --contexts
# and --modes (e.g. one call per context); the first large pin on a fresh
# machine is slowest (memory grows at about 8 GiB per 3 s there).
# Exit: 0 every run ok; 1 a run failed or was stopped; 2 bad usage or setup.
set -euo pipefail

die() { echo "measure.sh: $*" >&2; exit 2; }
t_start=$(date +%s)
elapsed() { echo $(($(date +%s) - t_start)); }

dry=0 hw="" modes="sparda,sparse,sparse-offload,dense" contexts="131072,65536,98304" batch_override=""
steps=6 warmup=2 budget=540 probe=4096 backend=cuda model=minicpm4.1-8b force=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --dry-run) dry=1; shift ;;
    --hardware|--modes|--contexts|--batch|--steps|--warmup|--budget-s|--probe-batch|--backend|--model)
      [[ $# -ge 2 ]] || die "$1 needs a value"
      case $1 in
        --hardware) hw=$2 ;; --modes) modes=$2 ;; --contexts) contexts=$2 ;; --batch) batch_override=$2 ;;
        --steps) steps=$2 ;; --warmup) warmup=$2 ;; --budget-s) budget=$2 ;; --probe-batch) probe=$2 ;;
        --backend) backend=$2 ;; --model) model=$2 ;;
      esac
      shift 2 ;;
    --force) force=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
if [[ $dry == 1 ]]; then
  contexts=65536 steps=2 warmup=1
  batch_override=${batch_override:-2}
fi
for v in steps warmup budget probe; do [[ ${!v} =~ ^[0-9]+$ ]] || die "--${v/budget/budget-s} must be a whole number, got '${!v}'"; done
[[ -z $batch_override || $batch_override =~ ^[1-9][0-9]*$ ]] || die "--batch must be a positive number, got '$batch_override'"

bin=${FORESIGHT_BIN_DIR:-.device/bin}
fs=$bin/foresight
[[ -x $fs ]] || die "no $fs: build it with 'bash scripts/device-bundle.sh' and carry .device"
[[ -d configs/hardware ]] || die "run from the repository root (no configs/hardware here: $PWD)"
out=${OUT:-/tmp/out}
mkdir -p "$out"
work=$(mktemp -d /tmp/large-host.XXXXXX)   # full run folders; only the tars go to $OUT
exec > >(tee -a "$out/measure.log") 2>&1

export FORESIGHT_CONFIGS=$PWD/configs
# The multi-GPU kinds: keep NVLink multicast off in anything started here (KINDS.md).
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
export CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES:-0}   # one GPU of the host
if [[ $backend == cuda ]] && ! ldconfig -p | grep -q libcudnn.so.9; then  # cuDNN from PyTorch's pip package (device-run.sh)
  site=$(python3 -c "import nvidia, os; print(os.path.dirname(list(nvidia.__path__)[0]))" 2>/dev/null || true)
  [[ -n $site && -d $site/nvidia/cudnn/lib ]] && export LD_LIBRARY_PATH="$site/nvidia/cudnn/lib:${LD_LIBRARY_PATH:-}"
fi
if ldd "$fs" | grep -q "not found"; then ldd "$fs" | grep "not found"; die "$fs misses libraries"; fi

# The machine: GPU count picks the kind; its documented memory (KINDS.md) bounds the config's.
gpus=0
if command -v nvidia-smi >/dev/null; then gpus=$(nvidia-smi -L | grep -c '^GPU ' || true); fi
[[ $backend != cuda || $gpus -ge 1 ]] || die "no GPU found (nvidia-smi -L lists none)"
case $gpus in
  1) kind=nvidia-h200 doc_gib=128 auto=h200 ;;
  2) kind=nvidia-h200-x2 doc_gib=256 auto=h200 ;;
  4) kind=nvidia-h200-x4 doc_gib=512 auto=h200-x4-host ;;
  8) kind=nvidia-h200-x8 doc_gib=560 auto=h200-x8-host ;;
  *) kind="unknown ($gpus GPUs)" doc_gib=0 auto=h200 ;;
esac
hw=${hw:-$auto}
hw_file=configs/hardware/$hw.toml
if [[ $hw == *.toml ]]; then hw_file=$hw; fi   # a path (a smoke test's own config)
[[ -f $hw_file ]] || die "no hardware config $hw_file"
host_bytes=$(sed -n 's/^host_mem_bytes *= *\([0-9_]*\).*/\1/p' "$hw_file" | tr -d _)
[[ -n $host_bytes ]] || die "$hw_file has no host_mem_bytes"
host_gib=$((host_bytes >> 30))
if [[ $backend == cuda && $force == 0 && ( $doc_gib == 0 || $host_gib -gt $doc_gib ) ]]; then
  die "$hw_file plans $host_gib GiB of host memory but this machine is $kind (documented: $doc_gib GiB): pinning would fail; pick --hardware for this kind or --force"
fi

echo "== $(date -u +%FT%TZ) measure.sh $([[ $dry == 1 ]] && echo '(dry run) ')on $kind; hardware $hw ($host_gib GiB host memory planned); CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES"
if [[ $gpus -ge 1 ]]; then nvidia-smi --query-gpu=index,name,driver_version,memory.total,clocks.sm --format=csv,noheader; fi
echo "== nproc $(nproc); $(grep -E '^(MemTotal|MemAvailable)' /proc/meminfo | tr -s ' ' | tr '\n' ';') (MemTotal grows with use on the large kinds)"
echo "== modes $modes; contexts $contexts; batch ${batch_override:-largest}; steps $steps after $warmup warm-up; budget ${budget}s"

common=(--model "$model" --backend "$backend" --hardware "$hw" --prefill synthetic --selections workload --workload assumed)
printf 'mode\tcontext\tlargest_batch\tbatch\tstatus\trc\twall_s\tstep_ms_mean\tstep_ms_p99\ttokens_per_s\th2d_exposed_ms_per_step\th2d_exposed_share\th2d_gbps\thit_rate\tpinned_gib\tpin_ms\tgpu_gib\n' >"$out/summary.tsv"

# largest_batch MODE CONTEXT -> the plan's largest batch (0: none fits); the table goes to probe-*.txt.
largest_batch() {
  local mode=$1 ctx=$2 rc=0 msg
  msg=$("$fs" run "${common[@]}" --mode "$mode" --batch "$probe" --context "$ctx" --steps "$steps" --warmup "$warmup" \
        --out "$work/probe-run" --quiet 2>&1) || rc=$?
  printf '%s\n' "$msg" >"$work/probe-$mode-$ctx.txt"
  if [[ $rc != 2 ]]; then
    echo "measure.sh: the probe at batch $probe (mode $mode, context $ctx) was not refused (exit $rc); raise --probe-batch:" >&2
    printf '%s\n' "$msg" | tail -5 >&2
    return 1
  fi
  local b
  b=$(awk -v m="$mode" '/largest batches at context/ {t=1; next} t && $1 == m {print ($2 == "none" ? 0 : $2); exit}' <<<"$msg")
  [[ $b =~ ^[0-9]+$ ]] || { echo "measure.sh: no '$mode' row in the probe's table:" >&2; printf '%s\n' "$msg" | tail -12 >&2; return 1; }
  echo "$b"
}

# metric FILE KEY.PATH -> value or '-'
metric() {
  python3 - "$1" "$2" <<'EOF' 2>/dev/null || echo "-"
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[k]
print("-" if v is None else (f"{v:.4g}" if isinstance(v, float) else v))
EOF
}

status=0
IFS=, read -r -a ctx_list <<<"$contexts"
IFS=, read -r -a mode_list <<<"$modes"
for ctx in "${ctx_list[@]}"; do
  [[ $ctx =~ ^[0-9]+$ ]] || die "contexts are token counts (65536, not 64K): got '$ctx'"
  for mode in "${mode_list[@]}"; do
    name=$mode-$ctx
    left=$((budget - $(elapsed)))
    if (( left < 45 )); then
      echo "== $name: skipped, $(elapsed) s of the ${budget} s budget used"
      printf '%s\t%s\t-\t-\tskipped_budget\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\n' "$mode" "$ctx" >>"$out/summary.tsv"
      status=1; continue
    fi
    largest=$(largest_batch "$mode" "$ctx") || { status=1; printf '%s\t%s\t-\t-\tprobe_failed\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\n' "$mode" "$ctx" >>"$out/summary.tsv"; continue; }
    b=${batch_override:-$largest}
    if [[ $b == 0 ]]; then
      echo "== $name: no batch fits on $hw"
      printf '%s\t%s\t0\t0\tdoes_not_fit\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\n' "$mode" "$ctx" >>"$out/summary.tsv"
      continue
    fi
    dir=$work/$name-b$b
    echo "== $(date -u +%T) $name: largest feasible batch $largest, running batch $b (time left ${left} s)"
    echo "   $fs run ${common[*]} --mode $mode --batch $b --context $ctx --steps $steps --warmup $warmup --out $dir"
    mkdir -p "$dir"
    # Memory while it pins and decodes (the large kinds grow MemTotal as memory is used).
    ( while :; do
        printf '%s\t%s\n' "$(date +%s)" "$(awk '/^(MemTotal|MemAvailable|Mlocked):/ {printf "%s=%d GiB ", $1, $2 / 1048576}' /proc/meminfo)"
        sleep 5
      done ) >"$dir/memlog.tsv" 2>/dev/null &
    sampler=$!
    t0=$(date +%s.%N) rc=0
    # SIGINT first: the run stops at the next step and leaves a trace marked truncated.
    timeout --signal=INT --kill-after=20 "$((left - 25))" \
      "$fs" run "${common[@]}" --mode "$mode" --batch "$b" --context "$ctx" --steps "$steps" --warmup "$warmup" \
      --out "$dir" --quiet >"$dir/run.log" 2>&1 || rc=$?
    wall=$(python3 -c "import time; print(f'{time.time() - $t0:.1f}')")
    kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true
    tail -3 "$dir/run.log" | sed 's/^/   /'
    m=$dir/metrics.json
    if [[ $rc == 0 && -f $m ]]; then st=ok
    elif [[ $rc == 124 || $rc == 130 || $rc == 137 ]]; then st=stopped_at_budget; status=1
    else st=failed; status=1; fi
    if [[ $rc == 137 ]]; then echo "   killed (137): out of time, or out of memory: see memlog.tsv"; fi
    gib() { local v; v=$(metric "$m" "$1"); [[ $v == - ]] && echo - || python3 -c "print(f'{$v / 2**30:.1f}')"; }
    exposed=$(metric "$m" h2d.exposed_ms); nsteps=$(metric "$m" decode.steps)
    per_step=$([[ $exposed != - && $nsteps != - ]] && python3 -c "print(f'{$exposed / $nsteps:.3f}')" || echo -)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$ctx" "$largest" "$b" "$st" "$rc" "$wall" \
      "$(metric "$m" decode.step_ms.mean)" "$(metric "$m" decode.step_ms.p99)" "$(metric "$m" decode.tokens_per_s)" \
      "$per_step" "$(metric "$m" h2d.exposed_share)" "$(metric "$m" h2d.effective_gbps)" "$(metric "$m" cache.hit_rate)" \
      "$(gib pinned.host_bytes)" "$(metric "$m" pinned.pin_ms)" "$(gib memory.gpu_bytes)" >>"$out/summary.tsv"
    echo "   $st (exit $rc) in ${wall} s: $(tail -1 "$out/summary.tsv" | cut -f8- | tr '\t' ' ')"
    # Keep the GPU traces out of the results tar (they go to traces.tar).
    if [[ -f $dir/timeline.json ]]; then gzip -f "$dir/timeline.json"; fi
  done
done

echo "== summary ($hw; columns: $(head -1 "$out/summary.tsv" | tr '\t' ' '))"
column -t -s $'\t' "$out/summary.tsv" 2>/dev/null || cat "$out/summary.tsv"
(cd "$work" && tar czf "$out/results.tar.gz" --exclude=trace.h5 --exclude=timeline.json.gz --exclude=probe-run -- *) \
  || { echo "measure.sh: could not write results.tar.gz" >&2; status=1; }
if compgen -G "$work/*/trace.h5" >/dev/null; then
  (cd "$work" && shopt -s nullglob && tar cf "$out/traces.tar" -- */trace.h5 */timeline.json.gz)
  if (( $(stat -c %s "$out/traces.tar") > 15 * 1024 * 1024 )); then
    split -b 15m -d "$out/traces.tar" "$out/traces.tar.part-" && rm "$out/traces.tar"
    parts=$(ls "$out"/traces.tar.part-* | wc -l)
    echo "== traces.tar split into $parts parts (cat traces.tar.part-* > traces.tar)"
    (( parts <= 4 )) || echo "measure.sh: WARNING: $parts trace parts: the device tool returns at most 8 files; rerun with fewer points per call" >&2
  fi
fi
ls -la "$out"
rm -rf "$work"
echo "== done in $(elapsed) s, status $status"
exit $status
