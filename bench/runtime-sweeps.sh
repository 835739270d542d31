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
for sweep in "$@"; do
  case $sweep in
    checks)    "$bin/gpu_check_runtime" ;;
    smoke)     br smoke --modes dense,sparse,sparda --contexts 4096 --batches 1 --steps 4 --trace both ;;
    # Issue 5: dense and sparse decode, batch 1-64 x context 4K-128K (model selections).
    decode)    br decode --modes dense,sparse --contexts 4096,32768,131072 --batches 1,4,16,64 --steps 6 --warmup 2 ;;
    overhead)  br overhead --modes dense,sparse,sparda --contexts 4096,32768 --batches 1,16 --steps 16 --trace both ;;
    # Issue 6: every mode, the reference sweep (largest batches that fit), workload reuse 0.85 and the model's own.
    offload)   br offload --modes sparse,sparse-offload,sparda-no-prefetch,sparda,sparda-no-offload \
                 --contexts 32768,131072 --batches 4,16,32 --selections 0.85,model --steps 6 --warmup 2 ;;
    reuse)     br reuse --modes sparse-offload,sparda --contexts 65536 --batches 16 --selections 0.7,0.85,0.95 --steps 6 ;;
    prefill)   br prefill --modes sparse,sparse-offload,sparda --contexts 8192 --batches 2 --prefill real --steps 2 ;;
    trace)     "$bin/foresight" run --model minicpm4.1-8b --backend cuda --mode sparda --batch 4 --context 32768 \
                 --prefill synthetic --selections workload --steps 3 --warmup 1 --out "$out/trace-sparda" && \
               "$bin/foresight" replay "$out/trace-sparda/trace.h5" --validate --out "$out/trace-sparda/validate" ;;
    *) echo "unknown sweep '$sweep'"; exit 2 ;;
  esac
done
