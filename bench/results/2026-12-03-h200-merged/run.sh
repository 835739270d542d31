set -uo pipefail
export FORESIGHT_CONFIGS=$PWD/configs LD_LIBRARY_PATH=$PWD/.device/lib
site=$(python3 -c "import nvidia, os; print(os.path.dirname(list(nvidia.__path__)[0]))" 2>/dev/null)
[[ -n $site && -d $site/nvidia/cudnn/lib ]] && export LD_LIBRARY_PATH="$site/nvidia/cudnn/lib:$LD_LIBRARY_PATH"
w=/tmp/final; mkdir -p $w
{ nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u +%FT%TZ; git rev-parse HEAD 2>/dev/null; } > $w/device.txt
(.device/bin/gpu_check_dense --quick; echo "rc=$?") > $w/gpu_check_dense.log 2>&1
(.device/bin/gpu_check_sparse --quick; echo "rc=$?") > $w/gpu_check_sparse.log 2>&1
tail -2 $w/gpu_check_dense.log $w/gpu_check_sparse.log
b=(.device/bin/bench_runtime --backend cuda --model minicpm4.1-8b --hardware h200 --trace on --contexts 32768 --batches 16 --steps 8 --warmup 2 --keep-traces ops)
"${b[@]}" --selections 0.85 --modes sparda,sparse-offload,sparda-no-prefetch,sparse,sparda-no-offload --out $w/modes 2>&1 | grep -E "^\[|error" 
"${b[@]}" --selections model --modes dense --out $w/dense 2>&1 | grep -E "^\[|error"
for f in $w/modes/traces/*.h5 $w/dense/traces/*.h5; do n=$(basename $f .h5)
  .device/bin/foresight replay $f --validate --out $w/v-$n --quiet 2>&1 | grep steady
  .device/bin/foresight replay $f --out $w/p-$n --quiet > /dev/null 2>&1; echo "$n predicted: $(python3 -c "import json;print(json.load(open('$w/p-$n/metrics.json'))['decode']['step_ms']['mean'])")"
done
rm -rf $w/modes/traces $w/dense/traces
(cd /tmp && tar -cJf $OUT/final.tar.xz final)
FIDELITY_WORK=/tmp/fw bash bench/fidelity-collect.sh train 2>&1 | grep -E '^==|error' ; ls -la $OUT
