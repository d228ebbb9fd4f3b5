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
# (its own files stay local: gpu_train.sh fills the 8 files that come back; the rows go to run.log)
OUT=/tmp/resshift_speed timeout 450 bash scripts/gpu_speed.sh >>"$OUT/run.log" 2>&1
echo "benchmark done: $(grep -c '"case"' /tmp/resshift_speed/speed.jsonl 2>/dev/null || echo 0) rows"
bash scripts/gpu_train.sh "$BUDGET"
