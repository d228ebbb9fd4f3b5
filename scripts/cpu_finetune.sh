#!/usr/bin/env bash
# Fine-tune the bundled lite models on this project's 2-core CPU, one after another, each from its
# bundled weights (init_from), in bf16 autocast (1.24x the images/s of fp32 on AVX-512-bf16 CPUs)
# and on smaller crops than the GPU configs (SR and faces: the networks are local; smaller crops, more of them).
#
#   bash scripts/cpu_finetune.sh "face:2100 sr:1500 inpaint:1200"
#
# Each entry is TASK:SECONDS. Runs go to runs/<task>_ft/ (log, checkpoint, exported fp16 file);
# copy an export over assets/lite/ only after benchmarks/quality.py says it is better, then update
# BUNDLED_CHECKSUMS in resshift/weights/lite.py and the model card.
set -uo pipefail
PLAN="${1:-face:2100 sr:1500 inpaint:1200}"
COMMON=(--set precision=bf16 --set num_workers=1 --set lr=2.0e-4 --set warmup_steps=100
        --set ckpt_every=0 --set ckpt_every_s=120 --set log_every=50 --set val_every=500)
for entry in $PLAN; do
    task="${entry%%:*}" budget="${entry##*:}"
    out="runs/${task}_ft"
    mkdir -p "$out"
    case "$task" in
        sr) extra=(--set crop_size=128 --set batch_size=32 --set val_size=256 --set seed=21) ;;
        face) extra=(--set crop_size=256 --set crop_mode=crop --set batch_size=16 --set seed=23) ;;
        inpaint) extra=(--set batch_size=8 --set seed=22) ;;  # 256 crops: holes need context
        *) echo "unknown task $task"; exit 2 ;;
    esac
    echo "[$(date +%T)] fine-tuning lite-$task for ${budget}s -> $out"
    python -m resshift.train "configs/lite_${task}.yaml" "${COMMON[@]}" "${extra[@]}" \
        --set init_from="assets/lite/resshift_lite_${task}.safetensors" --set time_budget_s="$budget" \
        --set out_dir="$out" --set export_path="$out/resshift_lite_${task}.safetensors" \
        >>"$out/train.log" 2>&1
    echo "[$(date +%T)] lite-$task: $(tail -1 "$out/train.log" | cut -c1-300)"
done
