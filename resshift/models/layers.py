"""Small building blocks shared by the ResShift networks.

Names follow the official ResShift code so that released checkpoints load unchanged.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class GroupNorm32(nn.GroupNorm):
    """GroupNorm with 32 groups, always computed in float32 and cast back to the input dtype."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__(32, channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float()).to(x.dtype)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer (or fractional) timesteps.

    t: (B,) tensor. Returns (B, dim) float32: [cos(t*f), sin(t*f)] with geometric frequencies f.
    """
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    )
    args = t[:, None].float() * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)
    return emb
