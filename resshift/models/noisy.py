"""The Swin-UNet with extra noise planes in its input (RSD's one-step student).

RSD (Selikhanovych et al., "One-Step Residual Shifting Diffusion for Image Super-Resolution via
Distillation", arXiv 2503.13358) keeps SinSR's network and widens only its first convolution:
``noise_channels`` more input planes of standard normal noise at the latent size (for x4 SR with
the VQ f4 autoencoder: the low-quality image's size), concatenated LAST:

    input = cat([x_t scaled, low-quality image (features), noise])   (B, in + lq + noise_channels, h, w)

Every parameter keeps its name and shape but ``input_blocks.0.0.weight``, which has
``noise_channels`` more input planes, so RSD's EMA state dict loads strictly.
"""
from __future__ import annotations

import torch
from torch import nn

from .unet import Condition, SwinUNet


class NoiseInputSwinUNet(SwinUNet):
    """:class:`SwinUNet` whose input also takes ``noise_channels`` noise planes.

    condition(lq, mask=None, noise=...): noise (B or 1, noise_channels, h, w) at the latent size,
    drawn by the sampler from the run's generator (``iter_sample``); it depends on neither x_t nor
    t, so it joins the low-quality features and is cut with them when the network runs in tiles.
    """

    def __init__(self, *args, noise_channels: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        if noise_channels < 1:
            raise ValueError(f"noise_channels must be >= 1, got {noise_channels}")
        self.noise_channels = noise_channels
        first = self.input_blocks[0][0]
        self.input_blocks[0][0] = nn.Conv2d(first.in_channels + noise_channels, first.out_channels, 3, padding=1)

    def condition(self, lq: torch.Tensor | None = None, mask: torch.Tensor | None = None,
                  noise: torch.Tensor | None = None) -> Condition:
        if noise is None:
            raise ValueError(f"this network takes {self.noise_channels} noise plane(s) (`noise`), drawn by the sampler")
        if noise.shape[1] != self.noise_channels:
            raise ValueError(f"noise has {noise.shape[1]} planes, this network takes {self.noise_channels}")
        cond = super().condition(lq, mask)
        features = cond.features
        batch = features.shape[0] if features is not None else noise.shape[0]
        noise = noise.to(features.dtype if features is not None else self.time_embed[0].weight.dtype)
        noise = noise.expand(batch, *noise.shape[1:])
        return Condition(noise if features is None else torch.cat([features, noise], dim=1), cond.base)

    def forward(self, x: torch.Tensor, t: torch.Tensor, lq: torch.Tensor | None = None,
                mask: torch.Tensor | None = None, cond: Condition | None = None,
                noise: torch.Tensor | None = None) -> torch.Tensor:
        if cond is None:
            cond = self.condition(lq, mask, noise)
        return super().forward(x, t, cond=cond)
