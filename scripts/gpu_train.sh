#!/usr/bin/env bash
# Train the three ResShift-lite models at once on one GPU, then check the exported files.
#
#   bash scripts/gpu_train.sh [BUDGET_S] [--set key=value ...]
#
# Machine: one CUDA GPU (the first lite models were trained on an H100 80GB). Run from the repository
# root, with .gpu_data/ (scripts/pack_gpu_data.py) beside it, and .whl/ too where basicsr is not
# installed (a machine without network). BUDGET_S (default 300) is each model's training time; the
# script ends within BUDGET_S + 6 minutes (start-up, final checkpoints, the check of the exports).
# Extra --set overrides go to all three trainers (e.g. --set batch_size=2 for a CPU smoke test).
# Results go to $OUT (default /tmp/resshift_gpu_out), written as they appear so that a kill still
# leaves something:
#   resshift_lite_{sr,inpaint,face}.safetensors  fp16 EMA weights (rewritten every minute)
#   summary.json                                 training summaries, loss/val history, fp16 PSNR
#   train_{sr,inpaint,face}.log                  each trainer's log
#   run.log                                      this script's output (nvidia-smi, versions, progress)
# Every wait is bounded: each trainer runs under `timeout`, the monitor loop has a deadline.
set -uo pipefail

BUDGET=300
if [[ $# -gt 0 && "$1" =~ ^[0-9]+$ ]]; then BUDGET="$1"; shift; fi
EXTRA=("$@")
OUT="${OUT:-/tmp/resshift_gpu_out}"
RUN="${RUN_DIR:-/tmp/resshift_gpu_runs}"
TASKS=(sr inpaint face)
mkdir -p "$OUT" "$RUN"
exec > >(tee -a "$OUT/run.log") 2>&1

stamp() { date '+%H:%M:%S'; }
echo "[$(stamp)] resshift-lite GPU training: budget ${BUDGET}s per model, OUT=$OUT, extra: ${EXTRA[*]:-none}"

# --- basicsr from .whl/ (scripts/pack_gpu_data.py) on a machine without network ---------------
if [[ -d .whl ]] && ls .whl/*.whl >/dev/null 2>&1; then
    timeout 120 python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl \
        || echo "[$(stamp)] WARNING: wheel install failed"
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"

# --- what machine is this ---------------------------------------------------------------------
timeout 20 nvidia-smi || echo "(no nvidia-smi)"
timeout 120 python3 - <<'EOF' || { echo "[$(stamp)] FATAL: the environment check failed"; exit 1; }
import platform, torch
from resshift.runtime.compat import install_torchvision_compat
print("python", platform.python_version(), "torch", torch.__version__, "cuda", torch.version.cuda,
      "device", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")
print("compat shims:", install_torchvision_compat())
import basicsr, resshift.train
print("basicsr", basicsr.__version__, "from", basicsr.__file__)
EOF
for dir in .gpu_data/natural .gpu_data/faces .gpu_data/val/natural .gpu_data/val/faces; do
    [[ -d "$dir" ]] || { echo "[$(stamp)] FATAL: $dir is missing (run scripts/pack_gpu_data.py and copy .gpu_data/ here)"; exit 1; }
done

summarise() { timeout 60 python3 scripts/gpu_summary.py "$RUN" "$OUT/summary.json" --budget "$BUDGET" "$@" \
    || echo "[$(stamp)] WARNING: summary failed"; }

# --- train the three models concurrently ------------------------------------------------------
declare -A PIDS
LIMIT=$((BUDGET + 150))   # start-up, the last step, final checkpoint + validation
for task in "${TASKS[@]}"; do
    rm -rf "${RUN:?}/$task"
    timeout -k 30 "$LIMIT" python3 -m resshift.train "configs/lite_$task.yaml" \
        --set "time_budget_s=$BUDGET" --set "out_dir=$RUN/$task" \
        --set "export_path=$OUT/resshift_lite_$task.safetensors" ${EXTRA[@]+"${EXTRA[@]}"} \
        >"$OUT/train_$task.log" 2>&1 &
    PIDS[$task]=$!
    echo "[$(stamp)] started $task (pid ${PIDS[$task]})"
done

deadline=$(( $(date +%s) + LIMIT + 60 ))
while :; do
    alive=0
    for task in "${TASKS[@]}"; do kill -0 "${PIDS[$task]}" 2>/dev/null && alive=$((alive + 1)); done
    (( alive == 0 )) && break
    if (( $(date +%s) > deadline )); then
        echo "[$(stamp)] deadline passed: killing the trainers"
        for task in "${TASKS[@]}"; do kill -9 "${PIDS[$task]}" 2>/dev/null; done
        break
    fi
    sleep 15
    summarise
    for task in "${TASKS[@]}"; do
        echo "[$(stamp)] $task: $(grep -E 'step [0-9]+:' "$OUT/train_$task.log" | tail -n 1 | cut -c 25-)"
    done
    timeout 10 nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>/dev/null
done
for task in "${TASKS[@]}"; do
    wait "${PIDS[$task]}"
    echo "[$(stamp)] $task trainer exited with status $?"
done
summarise

# --- check the exported fp16 files: strict load + validation PSNR ---------------------------
declare -A EVALS
for task in "${TASKS[@]}"; do
    weights="$OUT/resshift_lite_$task.safetensors"
    if [[ -f "$weights" ]]; then
        timeout -k 10 150 python3 -m resshift.train.evaluate "configs/lite_$task.yaml" "$weights" ${EXTRA[@]+"${EXTRA[@]}"} \
            >"$RUN/eval_$task.json" 2>"$RUN/eval_$task.err" &
        EVALS[$task]=$!
    else
        echo "[$(stamp)] $task: no exported weights"
    fi
done
for task in "${!EVALS[@]}"; do
    wait "${EVALS[$task]}" || { echo "[$(stamp)] $task evaluation failed:"; tail -n 5 "$RUN/eval_$task.err"; }
    echo "[$(stamp)] $task fp16: $(cat "$RUN/eval_$task.json" 2>/dev/null)"
done
summarise --final
rm -f "$OUT"/.*.tmp* 2>/dev/null
ls -la "$OUT"
echo "[$(stamp)] done"
