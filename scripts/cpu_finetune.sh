#!/usr/bin/env bash
# Fine-tune the bundled lite models on a CPU, one after another, each from its bundled weights
# (init_from), in bf16 autocast (1.24x the images/s of fp32 on CPUs with AVX-512 bf16) and on smaller
# crops than the GPU configs (SR and faces: the networks are local; smaller crops, more of them).
#
#   bash scripts/cpu_finetune.sh "face:2100 sr:1500 inpaint:1200"     # from the repository root
#
# Machine: any CPU; the bundled weights were fine-tuned this way on a 2-core AMD EPYC with AVX-512
# bf16 (the model cards in assets/lite/ give each round's time and images/s). Each entry is
# TASK:SECONDS, that model's training time; the whole plan takes their sum plus each model's
# start-up and final validation. Runs go to runs/<task>_ft/ (log, checkpoint, exported fp16 file);
# copy an export over assets/lite/ only after `python -m benchmarks.quality` says it is better, then update
# BUNDLED_CHECKSUMS in resshift/weights/lite.py and the model card.
# Data: the configs' folders (.gpu_data/, from scripts/pack_gpu_data.py), or for sr and inpaint the
# full-size photos with NATURAL=../shared/datasets/natural (its train/ and val/; how the bundled
# lite-inpaint was fine-tuned).
set -uo pipefail
PLAN="${1:-face:2100 sr:1500 inpaint:1200}"
COMMON=(--set precision=bf16 --set num_workers=1 --set lr=2.0e-4 --set warmup_steps=100
        --set ckpt_every=0 --set ckpt_every_s=120 --set log_every=50 --set val_every=500)
# one fine-tune of $task into the folder $1 (log, checkpoint, export), with more --set words after it
fine_tune() {
    local dir="$1"; shift
    mkdir -p "$dir"
    python -m resshift.train "configs/lite_${task}.yaml" "${COMMON[@]}" ${data[@]+"${data[@]}"} "${extra[@]}" "$@" \
        --set init_from="assets/lite/resshift_lite_${task}.safetensors" --set time_budget_s="$budget" \
        --set out_dir="$dir" --set export_path="$dir/resshift_lite_${task}.safetensors" >>"$dir/train.log" 2>&1
}
for entry in $PLAN; do
    task="${entry%%:*}" budget="${entry##*:}"
    data=()
    if [ -n "${NATURAL:-}" ] && [ "$task" != face ]; then
        data=(--set data_dir="$NATURAL/train" --set val_dir="$NATURAL/val")
    fi
    out="runs/${task}_ft"
    case "$task" in
        sr) extra=(--set crop_size=128 --set batch_size=32 --set val_size=256 --set seed=21) ;;
        face) extra=(--set crop_size=256 --set crop_mode=crop --set batch_size=16 --set seed=23) ;;
        # the bundled lite-inpaint's last round: most training at the one step it samples in, the
        # error inside the holes weighted per image, more boxes (a logo or a word painted out); two
        # one-thread runs side by side (seeds 44 and 45, hole weights 1 and 2: 1.4x the images/s of
        # one two-thread run on two cores), then their mean (python -m resshift.train.average)
        inpaint) extra=(--set crop_size=128 --set batch_size=12 --set lr=1.5e-4 --set num_workers=0 --set 'timestep_probs=[0.1, 0.1, 0.1, 0.7]'
                        --set 'degradation.area_range=[0.01, 0.5]'
                        --set 'degradation.box_size=[24, 150]' --set 'degradation.kind_probs=[0.35, 0.55, 0.1]')
                pairs=("--set seed=44 --set focus_weight=1.0" "--set seed=45 --set focus_weight=2.0") ;;
        *) echo "unknown task $task"; exit 2 ;;
    esac
    echo "[$(date +%T)] fine-tuning lite-$task for ${budget}s -> $out"
    if [ "$task" = inpaint ]; then
        for k in 0 1; do
            # shellcheck disable=SC2086  # each pair entry is several --set words
            OMP_NUM_THREADS=1 fine_tune "$out/run$k" ${pairs[$k]} &
        done
        wait
        python -m resshift.train.average "$out"/run{0,1}/resshift_lite_${task}.safetensors "$out/resshift_lite_${task}.safetensors"
        echo "[$(date +%T)] lite-$task: $(tail -1 "$out/run0/train.log" | cut -c1-300)"
    else
        fine_tune "$out"
        echo "[$(date +%T)] lite-$task: $(tail -1 "$out/train.log" | cut -c1-300)"
    fi
done
