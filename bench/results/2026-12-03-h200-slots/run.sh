set -uo pipefail
export FORESIGHT_CONFIGS=$PWD/configs LD_LIBRARY_PATH=$PWD/.device/lib
site=$(python3 -c "import nvidia, os; print(os.path.dirname(list(nvidia.__path__)[0]))" 2>/dev/null)
[[ -n $site && -d $site/nvidia/cudnn/lib ]] && export LD_LIBRARY_PATH="$site/nvidia/cudnn/lib:$LD_LIBRARY_PATH"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > $OUT/device.txt; date -u +%FT%TZ >> $OUT/device.txt
w=/tmp/slots; mkdir -p $w
.device/bin/bench_runtime --backend cuda --model minicpm4.1-8b --hardware h200 --trace on --selections 0.85 \
  --modes sparda --contexts 32768 --batches 16 --cache-blocks 0,31,160 --steps 12 --warmup 2 --keep-traces all --out $w/slots 2>&1 | tail -5
for f in $w/slots/traces/*.h5; do .device/bin/foresight replay $f --validate --out $w/v-$(basename $f .h5) --quiet 2>&1 | tail -3; done
cd $w && tar -cJf $OUT/slots.tar.xz slots v-* && ls -la $OUT
