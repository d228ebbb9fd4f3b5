#!/usr/bin/env bash
# The one GPU session: speed benchmark first (the GPU to itself), then the lite-model training.
#   run(command="bash scripts/gpu_session.sh", carry=[".gpu_data", ".whl"], timeout_s=...)
# Everything goes to $OUT: run.log (benchmark rows + training progress) and gpu_train.sh's files.
set -uo pipefail
OUT="${OUT:-/tmp/resshift_gpu_out}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
BUDGET="${TRAIN_BUDGET_S:-270}"
{
  echo "== speed benchmark $(date -u +%FT%TZ)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  timeout 150 python3 -m resshift.bench --device cuda --precision fp16 --lite-weights random \
      --cases sr64,sr128,sr256,sr64_b16,sr1024_tiled,lite_sr256,lite_sr1024_tiled
  echo "== fp32 and bf16 (no comparison)"
  timeout 45 python3 -m resshift.bench --device cuda --precision fp32,bf16 --no-compare --cases sr128,sr256
  echo "== channels_last fp16"
  timeout 45 python3 -m resshift.bench --device cuda --precision fp16 --channels-last --no-compare --cases sr128,sr256
} >>"$OUT/run.log" 2>&1
echo "benchmark done: $(grep -c '"case"' "$OUT/run.log") rows"
bash scripts/gpu_train.sh "$BUDGET"
