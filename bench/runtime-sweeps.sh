#!/usr/bin/env bash
# Runtime benchmarks ON the GPU machine (binaries in .device/bin, carried):
# each named sweep runs bench_runtime or foresight run and writes under $OUT.
# Usage: bash bench/runtime-sweeps.sh SWEEP...   (list below; results feed
# bench/RESULTS-runtime.md through bench/runtime_tables.py)
set -uo pipefail
bin=${FORESIGHT_BIN_DIR:-.device/bin}
out=${OUT:-/tmp/out}; mkdir -p "$out"
export FORESIGHT_CONFIGS=${FORESIGHT_CONFIGS:-$PWD/configs}
if ! ldconfig -p | grep -q libcudnn.so.9; then  # cuDNN from PyTorch's pip package (see device-run.sh)
  site=$(python3 -c "import nvidia, os; print(os.path.dirname(list(nvidia.__path__)[0]))" 2>/dev/null)
  [[ -n $site && -d $site/nvidia/cudnn/lib ]] && export LD_LIBRARY_PATH="$site/nvidia/cudnn/lib:${LD_LIBRARY_PATH:-}"
fi
br() { local name=$1; shift; echo "== bench_runtime $name: $*"; "$bin/bench_runtime" --out "$out/$name" "$@"; }
run() { local name=$1; shift; echo "== foresight run $name: $*"; "$bin/foresight" run --model minicpm4.1-8b --backend cuda \
  --prefill synthetic --selections workload "$@" --out "$out/$name" && \
  "$bin/foresight" replay "$out/$name/trace.h5" --validate --out "$out/$name/validate" | tail -1; }
OFFLOAD="sparda,sparse-offload,sparda-no-prefetch,sparse,sparda-no-offload"
for sweep in "$@"; do
  case $sweep in
    checks)    "$bin/gpu_check_runtime" ;;
    smoke)     br smoke --modes dense,sparse,sparda --contexts 4096 --batches 1 --steps 8 --warmup 2 --trace both --graph both ;;
    # Issue 5: dense and sparse decode, batch 1-64 x context 4K-128K (model selections, CUDA graphs).
    decode)    br decode --modes dense,sparse --contexts 4096,32768,131072 --batches 1,4,16,64 --steps 6 --warmup 2 --trace off ;;
    overhead)  br overhead --modes dense,sparse,sparda --contexts 4096,32768 --batches 1,16 --steps 16 --trace both --graph both ;;
    # Issue 6: every mode, the reference sweep (batches that fit), workload reuse 0.85, per-op tracing on.
    offload)   br offload --modes $OFFLOAD --contexts 32768,65536,98304,131072 --batches 4,8,16,32,64,128 \
                 --selections 0.85 --steps 6 --warmup 2 --trace on ;;
    offload-model) br offload-model --modes $OFFLOAD --contexts 32768 --batches 4,16,32 \
                 --selections model --steps 6 --warmup 2 --trace on ;;
    # The largest feasible batches (memory plan) of sparda and sparse at 32K, 64K, 128K.
    largest)   br largest-sparda --modes sparda --contexts 32768,65536,131072 --batches 29,58,116 --selections 0.85 \
                 --steps 4 --warmup 2 --trace on
               br largest-sparse --modes sparse --contexts 32768,65536,131072 --batches 14,27,50 --selections 0.85 \
                 --steps 4 --warmup 2 --trace on ;;
    reuse)     br reuse --modes sparse-offload,sparda-no-prefetch,sparda --contexts 65536 --batches 16 \
                 --selections 0.7,0.85,0.95 --steps 6 --warmup 2 --trace on ;;
    # Side-stream interference: sparda 32K batch 32 under variants.
    interference)
               br intf-default --modes sparda,sparda-no-offload --contexts 32768 --batches 32 --selections 0.85 --steps 4
               FORESIGHT_SIDE_PRIORITY=normal br intf-side-normal --modes sparda --contexts 32768 --batches 32 --selections 0.85 --steps 4
               FORESIGHT_ATTN_SM_RESERVE=32 br intf-attn-reserve --modes sparda --contexts 32768 --batches 32 --selections 0.85 --steps 4
               br intf-ctas8 --modes sparda --contexts 32768 --batches 32 --selections 0.85 --steps 4 --gather-ctas 8
               br intf-ctas16 --modes sparda --contexts 32768 --batches 32 --selections 0.85 --steps 4 --gather-ctas 16 ;;
    # The first configuration of a process pays cuDNN/cuBLAS set-up: sparse runs twice, the first is a warm-up.
    prefill)   br prefill --modes sparse,sparse,sparse-offload,sparda --contexts 16384 --batches 2 --prefill real --steps 2 ;;
    # The Hugging Face eager baseline of measured-h100.md used Llama-3-8B shapes.
    hf)        br hf-llama --model llama3.1-8b --modes dense --contexts 4096,32768 --batches 1,4 --steps 8 --trace off ;;
    sample)    run sample-sparda --mode sparda --batch 2 --context 8192 --steps 3 --warmup 1 ;;
    breakdown) run breakdown-sparda --mode sparda --batch 16 --context 32768 --steps 4 --warmup 1
               run breakdown-sparse-offload --mode sparse-offload --batch 16 --context 32768 --steps 4 --warmup 1 ;;
    # Fused decode kernels (linear, rope_append): GPU checks and micro-benchmarks.
    fused-checks) "$bin/gpu_check_linear"; "$bin/gpu_check_rope_append" ;;
    gemm)      "$bin/bench_gemm_skinny" --csv "$out/gemm-skinny-linear.csv" ;;
    rope)      "$bin/bench_rope_append" --csv "$out/rope-append.csv" ;;
    # The fused linear on/off and with/without programmatic dependent launch.
    fusion)    for v in 1-1 1-0 0-1; do
                 FORESIGHT_LINEAR_FUSED=${v%-*} FORESIGHT_LINEAR_PDL=${v#*-} br fusion-f${v%-*}-pdl${v#*-} \
                   --modes dense,sparse --contexts 4096,32768 --batches 1,2,4,8,16 --steps 16 --trace off
               done ;;
    # Graph op marks between the kernels (inline) against hung off the stream (branch, the default).
    marks)     for v in inline branch; do
                 FORESIGHT_GRAPH_MARKS=$v br marks-$v --modes dense,sparse,sparda --contexts 4096 --batches 1,16 \
                   --steps 16 --trace on
               done ;;
    # One traced run per mode at 4K x 16 with its Perfetto timeline.
    timeline)  for mode in dense sparse; do
                 "$bin/foresight" run --model minicpm4.1-8b --backend cuda --prefill synthetic --mode $mode \
                   --batch 16 --context 4096 --steps 4 --warmup 1 --out "$out/timeline-$mode" | tail -2
               done ;;
    # Decode attention's split-KV grid: at least N 64-token tiles per split.
    splits)    for t in 1 2 4 8; do
                 FORESIGHT_ATTN_MIN_TILES=$t br splits-min$t --modes dense,sparse --contexts 4096,32768 --batches 1,4,16 \
                   --steps 16 --trace off
               done ;;
    # Decode attention's split kernel variants at small batch (FORESIGHT_DECODE_KERNEL).
    attn-kernel) for v in pipe3 warp pipe2 pipe6; do
                 FORESIGHT_DECODE_KERNEL=$v br attn-$v --modes dense --contexts 4096,32768 --batches 1,4 --steps 16 --trace off
               done ;;
    # Side-stream marks inline (default) or forked like the main stream's, sparda at batch 1.
    side-marks) for v in inline branch; do
                 FORESIGHT_SIDE_MARKS=$v br side-marks-$v --modes sparda --contexts 4096,32768 --batches 1,16 \
                   --steps 16 --trace both
               done ;;
    *) echo "unknown sweep '$sweep'"; exit 2 ;;
  esac
done
