site=$(python3 -c "import nvidia, os; print(os.path.dirname(list(nvidia.__path__)[0]))"); export LD_LIBRARY_PATH="$site/nvidia/cudnn/lib:$site/nvidia/cublas/lib:$LD_LIBRARY_PATH"
export FORESIGHT_CONFIGS=$PWD/configs
nvidia-smi --query-gpu=name,driver_version --format=csv > $OUT/gpu.txt
B=.device/bin
timeout 500 $B/bench_runtime --backend cuda --hardware h200 --modes dense --batches 1 --prefill real --steps 2 --warmup 0 --trace on \
  --keep-traces none --model minicpm4.1-8b --contexts 32768,65536,131072 --prefill-attention dense,dynamic-sparse --prefill-chunk whole \
  --prefill-recall 0.95,0.5 --out $OUT/minicpm > $OUT/bench_runtime.log 2>&1; echo "rc=$?"
python3 - <<'PY'
import json,os
for l in open(os.environ['OUT']+'/minicpm/results.jsonl'):
    r=json.loads(l); s=r.get('stages_ms_all_steps',{})
    print(r['context'],r['prefill_attention'],r['prefill_recall'],round(r['prefill_ms'],1),(r.get('prefill_patterns') or {}).get('tile_share'),
          {k:round(v,1) for k,v in s.items() if k.startswith('prefill')})
PY
