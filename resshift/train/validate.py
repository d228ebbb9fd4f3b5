"""Validation: sample the (EMA) model with the shared sampler and measure PSNR against x0."""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn.functional as F

from ..runtime.compat import install_torchvision_compat
from ..diffusion import DiffusionConfig, Schedule, sample
from .objective import TrainingPair


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB, shape (B,), of (B, 3, H, W) images in [-1, 1]: basicsr's
    ``calculate_psnr_pt`` on them mapped to [0, 1] and clamped, on their device (float64)."""
    install_torchvision_compat()  # before basicsr is imported; here, not at the top: it takes seconds
    from basicsr.metrics.psnr_ssim import calculate_psnr_pt

    a, b = (((x.float() + 1) / 2).clamp(0, 1) for x in (pred, target))
    return calculate_psnr_pt(a, b, crop_border=0)


def input_baseline(pair: TrainingPair) -> torch.Tensor:
    """The low-quality input at the target size (bicubic when sf > 1): what 'doing nothing' scores."""
    if pair.y0.shape[-2:] == pair.x0.shape[-2:]:
        return pair.y0
    return F.interpolate(pair.y0, size=pair.x0.shape[-2:], mode="bicubic").clamp(-1, 1)


@torch.no_grad()
def validate(model: torch.nn.Module, first_stage: Any, config: DiffusionConfig,
             pairs: Sequence[TrainingPair], *, seed: int = 0, precision: str = "fp32") -> dict[str, float]:
    """Mean PSNR of the sampled restorations (``psnr``) and of the inputs (``psnr_input``) over the
    validation pairs, sampled with ``config.steps`` steps and a generator seeded with ``seed``."""
    if not pairs:
        raise ValueError("no validation pairs")
    schedule = Schedule.create(config)
    device = pairs[0].x0.device
    g = torch.Generator(device=device).manual_seed(seed)
    restored, baseline = [], []
    for pair in pairs:
        out = sample(model, pair.y0, schedule, config, first_stage=first_stage,
                     model_kwargs=dict(pair.model_kwargs), generator=g, precision=precision)
        restored.append(psnr(out, pair.x0))
        baseline.append(psnr(input_baseline(pair), pair.x0))
    return {"psnr": float(torch.cat(restored).mean()), "psnr_input": float(torch.cat(baseline).mean()),
            "images": int(sum(p.x0.shape[0] for p in pairs))}
