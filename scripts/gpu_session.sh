#!/usr/bin/env bash
# One GPU session: the speed benchmark first (the GPU to itself), then the lite-model training.
#   run(command="bash scripts/gpu_session.sh", carry=[".gpu_data", ".whl"], timeout_s=...)
# (.gpu_data and .whl come from `python scripts/pack_gpu_data.py`; the working tree must stay under
# the device's 64 MiB, so move assets/lite/*.safetensors aside for the call if needed.)
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
  echo "== cuDNN autotuning"
  timeout 45 python3 -m resshift.bench --device cuda --precision fp16 --cudnn-benchmark --no-compare --cases sr128,sr256
  echo "== torch.compile of the Swin-UNet with CUDA graphs (launch overhead; slow warm-up)"
  timeout 180 python3 -m resshift.bench --device cuda --precision fp16 --compile --compile-mode reduce-overhead \
      --cudnn-benchmark --cases sr128,sr256
  echo "== NCHW (contiguous) for comparison"
  timeout 45 python3 -m resshift.bench --device cuda --precision fp16 --contiguous --no-compare --cases sr128,sr256
} >>"$OUT/run.log" 2>&1
echo "benchmark done: $(grep -c '"case"' "$OUT/run.log") rows"
bash scripts/gpu_train.sh "$BUDGET"
