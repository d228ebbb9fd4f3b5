#!/usr/bin/env bash
# One device call for speed: the CUDA-only tests, then eager and CUDA-graph timings in the same run.
#   run(command="bash scripts/gpu_speed.sh", timeout_s=300)
# Rows go to $OUT/speed.jsonl (JSON lines), everything to $OUT/speed.log. Each step is bounded.
# (benchmarks/RESULTS.md's H100 table came from three such calls while the kernels changed.)
set -uo pipefail
OUT="${OUT:-/tmp/resshift_gpu_out}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
B="python3 -m resshift.bench --device cuda --json $OUT/speed.jsonl"
{
  echo "== $(date -u +%FT%TZ)"; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  echo "== CUDA tests"
  timeout 60 python3 -m pytest -q -p no:cacheprovider tests/test_half_kernels.py tests/test_cuda_graphs.py
  echo "== eager (fp16 autocast, channels_last)"
  timeout 45 $B --no-compare --cases sr64,sr128,sr256,sr64_b16,lite_sr256
  echo "== CUDA graphs + cuDNN autotuning"
  timeout 75 $B --cuda-graphs --cudnn-benchmark --repeat 10 --cases sr64,sr128,sr256,sr64_b16,lite_sr256
  echo "== tiled 1024 -> 4096, graphs, one 256 px tile per call"
  timeout 45 $B --cuda-graphs --cudnn-benchmark --batch-tiles 1 --repeat 2 --no-compare --cases sr1024_tiled
  echo "== profile (eager fp16)"
  timeout 40 python3 benchmarks/profile_cases.py --cases sr256 --rows 25
  echo "== done $(date -u +%FT%TZ)"
} 2>&1 | tee "$OUT/speed.log"
