#!/usr/bin/env bash
# One device call for speed: the CUDA-only tests, then whole restorations (CUDA graphs, tiled 4096,
# eager, torch.compile) in the same run.
#   run(command="bash scripts/gpu_speed.sh", timeout_s=450)
# The stage breakdown and kernel comparisons: python3 benchmarks/stages.py --micro --cases sr128,sr256
# Rows go to $OUT/speed.jsonl (JSON lines), everything to $OUT/speed.log. Each step is bounded.
# (benchmarks/RESULTS.md's GPU tables came from such calls while the kernels changed.)
set -uo pipefail
OUT="${OUT:-/tmp/resshift_gpu_out}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
B="python3 -m resshift.bench --device cuda --json $OUT/speed.jsonl"
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
