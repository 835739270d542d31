#!/usr/bin/env bash
# Fidelity benchmark, GPU half: records the traces the simulator is judged on.
# Runs ON the GPU machine with the programs of scripts/device-bundle.sh
# (.device/bin, carried). Three groups, each in its own folder under $OUT:
#   train    the traces replayed with what-ifs (selections kept), one per mode
#            at batch 16, 32K;
#   cal      calibration runs (no-offload modes over batch x context, gather
#            probes over CTAs, sparda beside gathers at batch 6, 8 and 40,
#            eager launches);
#   heldout  the runs the simulator must predict (off the calibration grid
#            where possible); never used for calibration.
# Every group is packed as GROUP.tar.xz as soon as it ends, so a run cut at
# the time limit still returns what it finished. The CPU half is
# bench/fidelity.py (predicts every held-out run, writes RESULTS-fidelity.md).
# Usage: bash bench/fidelity-collect.sh [GROUP...]   (default: train cal heldout; also: repeat)
set -uo pipefail
bin=${FORESIGHT_BIN_DIR:-.device/bin}
out=${OUT:-/tmp/out}; mkdir -p "$out"
work=${FIDELITY_WORK:-/tmp/fidelity}; mkdir -p "$work"
export FORESIGHT_CONFIGS=${FORESIGHT_CONFIGS:-$PWD/configs}
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:-}:$PWD/.device/lib"  # fallback for libs the image lacks (hdf5, fmt)
if ! ldconfig -p | grep -q libcudnn.so.9; then  # cuDNN from PyTorch's pip package (see device-run.sh)
  site=$(python3 -c "import nvidia, os; print(os.path.dirname(list(nvidia.__path__)[0]))" 2>/dev/null)
  [[ -n $site && -d $site/nvidia/cudnn/lib ]] && export LD_LIBRARY_PATH="$site/nvidia/cudnn/lib:${LD_LIBRARY_PATH:-}"
fi
common=(--backend cuda --model minicpm4.1-8b --hardware "${FIDELITY_HARDWARE:-h200}" --trace on)
br() {  # [SEL=model] br GROUP NAME ARGS...: one bench_runtime process
  local group=$1 name=$2; shift 2  # SEL: workload block reuse (0.85) or the model's own selections (dense)
  echo "== $(date -u +%T) $group/$name: $*"
  "$bin/bench_runtime" "${common[@]}" --selections "${SEL:-0.85}" --out "$work/$group/$name" "$@"
}
pack() {
  (cd "$work" && tar -cJf "$out/$1.tar.xz" "$1") && ls -la "$out/$1.tar.xz"
}
{ date -u +%FT%TZ; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.sm --format=csv,noheader;
  uname -r; git rev-parse HEAD 2>/dev/null; } > "$out/device.txt"
cat "$out/device.txt"

groups=("$@"); ((${#groups[@]})) || groups=(train cal heldout)
for g in "${groups[@]}"; do
  case $g in
    train)
      br train modes --modes sparda,sparse-offload,sparda-no-prefetch,sparse,sparda-no-offload \
        --contexts 32768 --batches 16 --steps 12 --warmup 2 --keep-traces all
      SEL=model br train dense --modes dense --contexts 32768 --batches 16 --steps 12 --warmup 2 --keep-traces all ;;
    cal)
      br cal grid --modes sparda-no-offload,sparse --contexts 8192,32768,131072 --batches 1,2,4,8,16,32,64 \
        --steps 6 --warmup 2 --keep-traces ops
      SEL=model br cal dense --modes dense --contexts 8192,32768 --batches 1,2,8,32 --steps 6 --warmup 2 --keep-traces ops
      br cal gather16 --modes sparda-no-prefetch --contexts 32768 --batches 16 --gather-ctas 2,4,8,16,32,64 \
        --steps 6 --warmup 2 --keep-traces ops
      br cal gather-small --modes sparda-no-prefetch --contexts 32768 --batches 4 --gather-ctas 4,16 \
        --steps 6 --warmup 2 --keep-traces ops
      br cal gather-big --modes sparda-no-prefetch --contexts 8192 --batches 64 --gather-ctas 8,32 \
        --steps 6 --warmup 2 --keep-traces ops
      br cal interference --modes sparda --contexts 32768 --batches 6,8,40 --gather-ctas 2,4,8,16,32 \
        --steps 6 --warmup 2 --keep-traces ops
      br cal eager --modes sparda-no-offload,sparse --contexts 8192 --batches 4 --graph off \
        --steps 6 --warmup 2 --keep-traces ops
      br cal slots --modes sparda --contexts 32768 --batches 8 --cache-blocks 64 \
        --steps 6 --warmup 2 --keep-traces ops ;;
    heldout)
      br heldout sparda-batch --modes sparda --contexts 32768 --batches 1,2,4,12,24,32,48,64 \
        --steps 8 --warmup 2 --keep-traces ops
      br heldout sparda-context --modes sparda --contexts 8192,16384,65536,98304,131072 --batches 16 \
        --steps 8 --warmup 2 --keep-traces ops
      br heldout sparda-ctas --modes sparda --contexts 32768 --batches 16 --gather-ctas 2,4,8,32 \
        --steps 8 --warmup 2 --keep-traces ops
      br heldout sparda-slots --modes sparda --contexts 32768 --batches 16 --cache-blocks 31,160 \
        --steps 8 --warmup 2 --keep-traces ops
      br heldout offload --modes sparse-offload --contexts 32768 --batches 1,4,12,32,64 \
        --steps 8 --warmup 2 --keep-traces ops
      br heldout offload-context --modes sparse-offload --contexts 8192,65536,131072 --batches 16 \
        --steps 8 --warmup 2 --keep-traces ops
      br heldout no-prefetch --modes sparda-no-prefetch --contexts 32768 --batches 4,48 \
        --steps 8 --warmup 2 --keep-traces ops
      br heldout no-offload --modes sparse,sparda-no-offload --contexts 32768 --batches 4,24 \
        --steps 8 --warmup 2 --keep-traces ops
      br heldout no-offload-context --modes sparse,sparda-no-offload --contexts 65536 --batches 16 \
        --steps 8 --warmup 2 --keep-traces ops
      br heldout ctas-other-batches --modes sparda --contexts 32768 --batches 4,48 --gather-ctas 8 \
        --steps 8 --warmup 2 --keep-traces ops
      br heldout offload-ctas --modes sparse-offload --contexts 32768 --batches 16 --gather-ctas 4,32 \
        --steps 8 --warmup 2 --keep-traces ops
      SEL=model br heldout dense --modes dense --contexts 32768 --batches 4,64 --steps 8 --warmup 2 --keep-traces ops
      SEL=model br heldout dense-context --modes dense --contexts 65536 --batches 16 --steps 8 --warmup 2 \
        --keep-traces ops ;;
    repeat)  # the gather-CTA runs again, minutes later in another process: the GPU's own spread
      br repeat sparda-ctas --modes sparda --contexts 32768 --batches 16 --gather-ctas 2,4,16,32 \
        --steps 8 --warmup 2 --keep-traces ops ;;
    *) echo "unknown group $g" >&2; exit 2 ;;
  esac
  pack "$g"
done
