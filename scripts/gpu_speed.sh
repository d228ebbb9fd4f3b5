#!/usr/bin/env bash
# One device call for speed: the CUDA-only tests, the stage breakdown and kernel comparisons, then
# whole restorations (CUDA graphs, eager, tiled 4096) in the same run.
#   run(command="bash scripts/gpu_speed.sh", timeout_s=420)
# Rows go to $OUT/*.jsonl (JSON lines), everything to $OUT/speed.log. Each step is bounded.
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
  timeout 90 python3 -m pytest -q -p no:cacheprovider tests/test_half_kernels.py tests/test_cuda_graphs.py \
    tests/test_cast_weights.py
  echo "== stages (each stage a CUDA graph) and kernel comparisons"
  timeout 120 python3 benchmarks/stages.py --micro --cases sr128,sr256 --json "$OUT/stages.jsonl"
  echo "== CUDA graphs + cuDNN autotuning (half weight copies)"
  timeout 75 $B --cuda-graphs --cudnn-benchmark --repeat 10 --cases sr64,sr128,sr256,lite_sr256
  echo "== tiled 1024 -> 4096, graphs, 1 and 2 tiles per call"
  timeout 50 $B --cuda-graphs --cudnn-benchmark --batch-tiles 1 --repeat 2 --no-compare --cases sr1024_tiled
  timeout 50 $B --cuda-graphs --cudnn-benchmark --batch-tiles 2 --repeat 2 --no-compare --cases sr1024_tiled
  echo "== eager (fp16 autocast, channels_last)"
  timeout 40 $B --no-compare --cases sr128,sr256
  echo "== profile (eager fp16)"
  timeout 40 python3 benchmarks/profile_cases.py --cases sr256 --rows 30
  echo "== torch.compile of the VQ encoder/decoder (stage timings; compile time in compile_s)"
  timeout 150 python3 benchmarks/stages.py --cases sr256 --variants cast,compile --json "$OUT/stages.jsonl"
  echo "== done $(date -u +%FT%TZ)"
} 2>&1 | tee "$OUT/speed.log"
