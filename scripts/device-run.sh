#!/usr/bin/env bash
# Runs ON the GPU machine, from the repository root, with .device carried:
# GPU checks (CUDA kernels vs CPU references), compute-sanitizer on the quick
# checks, then the GPU benchmarks. Everything it prints is also written to
# $OUT (device.log, *.csv). Usage: bash scripts/device-run.sh [checks|bench|all]
set -uo pipefail
what=${1:-all}
bin=.device/bin
out=${OUT:-/tmp/out}; mkdir -p "$out"
log="$out/device.log"
exec > >(tee -a "$log") 2>&1
# cuDNN (prefill attention) is not in the system library path there: PyTorch's
# pip package carries it. Point the loader at it when ldconfig does not know it.
if ! ldconfig -p | grep -q libcudnn.so.9; then
  site=$(python3 -c "import nvidia, os; print(os.path.dirname(list(nvidia.__path__)[0]))" 2>/dev/null)
  [[ -n $site && -d $site/nvidia/cudnn/lib ]] && export LD_LIBRARY_PATH="$site/nvidia/cudnn/lib:${LD_LIBRARY_PATH:-}"
fi
echo "== $(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version,clocks.sm --format=csv,noheader)"
for f in "$bin"/*; do ldd "$f" | grep -q "not found" && { echo "MISSING LIBS for $f"; ldd "$f" | grep "not found"; }; done
status=0
if [[ $what == checks || $what == all ]]; then
  for c in "$bin"/gpu_check_*; do
    [[ -x $c ]] || continue
    echo "== $c"; "$c" || status=1
    echo "== compute-sanitizer memcheck $c --quick"
    compute-sanitizer --tool memcheck --error-exitcode 9 "$c" --quick >"$out/$(basename "$c").memcheck.txt" 2>&1 \
      && echo "memcheck clean" || { echo "memcheck FAILED"; tail -30 "$out/$(basename "$c").memcheck.txt"; status=1; }
    echo "== compute-sanitizer racecheck $c --quick"
    compute-sanitizer --tool racecheck --error-exitcode 9 "$c" --quick >"$out/$(basename "$c").racecheck.txt" 2>&1 \
      && echo "racecheck clean" || { echo "racecheck FAILED"; tail -30 "$out/$(basename "$c").racecheck.txt"; status=1; }
  done
fi
if [[ $what == bench || $what == all ]]; then
  for b in "$bin"/bench_*; do
    [[ -x $b ]] || continue
    case $(basename "$b") in bench_sim_*|bench_cache_*|bench_runtime|bench_weights) continue;; esac  # CPU or own scripts
    echo "== $b"; "$b" --csv "$out/$(basename "$b").csv" || status=1
  done
fi
exit $status
