"""``python -m resshift.train.evaluate CONFIG.yaml WEIGHTS.safetensors``: validation PSNR of
exported weights (loaded with strict keys into the config's model), printed as JSON (its command
line is :func:`resshift.train.cli.evaluate_main`)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from safetensors.torch import load_file

from .config import load_config
from ..settings import resolve_device
from .loop import resolve_spec, trainable_networks
from .tasks import validation_pairs
from .validate import validate


def evaluate(config_path: Path, weights: Path, overrides: list[str] = (), device: str | None = None) -> dict:
    config = load_config(config_path, overrides)
    if not config.val_dir:
        raise ValueError(f"{config_path} has no val_dir")
    dev = resolve_device(device or config.device)
    spec = resolve_spec(config)
    unet, first_stage = trainable_networks(spec, dev, channels_last=False)
    unet.load_state_dict(load_file(str(weights), device=str(dev)), strict=True)  # fp16 -> float32 copy
    unet.eval()
    pairs = validation_pairs(config.task, config.degradation, config.val_dir, config.val_images,
                             config.val_size or config.crop_size, config.crop_mode == "resize",
                             config.seed + 1000, dev, hole_fill=spec.hole_fill)
    t0 = time.monotonic()
    precision = "bf16" if dev.type == "cuda" else "fp32"
    result = validate(unet, first_stage, spec.diffusion, pairs, seed=config.seed, precision=precision)
    return {"model": spec.name, "weights": str(weights), "size_mib": round(weights.stat().st_size / 2**20, 2),
            **result, "seconds": round(time.monotonic() - t0, 2), "device": str(dev)}


if __name__ == "__main__":
    from .cli import evaluate_main

    sys.exit(evaluate_main())
