"""A weight-free first stage: pixel-unshuffle, so a small Swin-UNet can run at low resolution.

encode: image (B, 3, H, W) in [-1, 1] -> (B, 3*f*f, H/f, W/f), the same numbers rearranged.
decode: the exact inverse (pixel-shuffle). Values stay in [-1, 1], so x0 predictions are clipped.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PixelUnshuffleStage(nn.Module):
    clip_x0 = True  # latents are pixels: clamp the x0 prediction to [-1, 1] like pixel-space ResShift

    def __init__(self, factor: int = 4):
        super().__init__()
        if factor < 1:
            raise ValueError("factor must be >= 1")
        self.downscale = factor
        self.latent_channels = 3 * factor * factor

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_unshuffle(x, self.downscale)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(z, self.downscale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
