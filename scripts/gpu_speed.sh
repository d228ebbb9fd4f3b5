#!/usr/bin/env bash
# Speed of the CUDA path on one GPU: the CUDA-only tests, then whole restorations through
# `python -m benchmarks.speed` (CUDA graphs with cuDNN autotuning, the tiled 1024->4096 case, the eager
# path, torch.compile): the rows of the GPU table in benchmarks/RESULTS.md.
#
#   bash scripts/gpu_speed.sh                    # from the repository root
#   OUT=/tmp/speed bash scripts/gpu_speed.sh     # results elsewhere (default: runs/gpu_speed)
#
# Machine: one CUDA GPU (the figures in RESULTS.md come from an H100 80GB), with requirements-test.txt
# installed. Each step runs under `timeout`, so the whole script ends within 10 minutes; most of it is
# torch.compile's warm-up. Rows go to $OUT/speed.jsonl (JSON lines, each with the torch version, the
# GPU's name and the date), the whole log to $OUT/speed.log. Then, for the time of each stage and the
# attention and group-norm kernels:
#   python -m benchmarks.stages --micro --cases sr128,sr256
set -uo pipefail
OUT="${OUT:-runs/gpu_speed}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
B="python3 -m benchmarks.speed --device cuda --json $OUT/speed.jsonl"
{
  echo "== $(date -u +%FT%TZ)"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c "import torch; print('torch', torch.__version__, 'cudnn', torch.backends.cudnn.version())"
  echo "== CUDA tests"
  timeout 150 python3 -m pytest -q -p no:cacheprovider tests/test_half_kernels.py tests/test_cuda_graphs.py \
    tests/test_cast_weights.py
  echo "== CUDA graphs + cuDNN autotuning"
  timeout 80 $B --cuda-graphs --cudnn-benchmark --repeat 10 --cases sr64,sr128,sr256,lite_sr256
  echo "== tiled 1024 -> 4096 in three stages (eager: graphs apply to untiled inputs), 1 and 2 tiles per call"
  timeout 60 $B --cudnn-benchmark --repeat 3 --cases sr1024_tiled,sr256_tiled
  timeout 40 $B --cudnn-benchmark --batch-tiles 2 --repeat 3 --no-compare --cases sr1024_tiled
  echo "== eager (fp16 autocast, channels_last)"
  timeout 40 $B --no-compare --cases sr128,sr256
  echo "== torch.compile (VQ) + CUDA graphs"
  timeout 200 $B --compile --cuda-graphs --cudnn-benchmark --batch-tiles 2 --repeat 3 --no-compare \
    --cases sr1024_tiled,sr256
  echo "== done $(date -u +%FT%TZ)"
} 2>&1 | tee "$OUT/speed.log"
