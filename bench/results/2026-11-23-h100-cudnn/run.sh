#!/bin/bash
# cuDNN prefill attention: locate PyTorch's pip cuDNN, then GPU check + benchmark.
cd "$(dirname "$0")"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
SITE=$(python3 -c "import nvidia, os; print(os.path.dirname(list(nvidia.__path__)[0]))" 2>/dev/null)
echo "site: $SITE"; ls -d $SITE/nvidia/*/lib 2>/dev/null
python3 -c "import torch; print('torch', torch.__version__, 'cudnn', torch.backends.cudnn.version())" 2>&1 | tail -1
LIBS=""
for d in $SITE/nvidia/cudnn/lib $SITE/nvidia/cuda_nvrtc/lib $SITE/nvidia/*/lib; do [ -d "$d" ] && LIBS="$LIBS:$d"; done
if [ -z "$SITE" ]; then F=$(find / -name 'libcudnn.so.9*' 2>/dev/null | head -1); LIBS=":$(dirname "$F")"; fi
export LD_LIBRARY_PATH="${LIBS#:}:$LD_LIBRARY_PATH"
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"; ls $SITE/nvidia/cudnn/lib 2>/dev/null
ldd ./gpu_check_dense | grep -i "cudnn\|not found"
echo "== gpu_check_dense"; CUDNN_LOGLEVEL_DBG=1 CUDNN_LOGDEST_DBG=$OUT/cudnn_errors.log timeout 170 ./gpu_check_dense > $OUT/gpu_check_dense.log 2>&1; echo "rc=$?" >> $OUT/gpu_check_dense.log
grep -i "cudnn\|FAIL\|passed\|skip\|prefill\|rc=" $OUT/gpu_check_dense.log | tail -80; head -c 3000 $OUT/cudnn_errors.log 2>/dev/null
echo "== bench"; timeout 110 stdbuf -oL ./bench_kernels_dense --attention-only --csv $OUT/bench_prefill_attention.csv > $OUT/bench_prefill_attention.txt 2>&1; echo "rc=$?" >> $OUT/bench_prefill_attention.txt
cat $OUT/bench_prefill_attention.txt
