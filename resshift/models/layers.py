"""Small building blocks shared by the ResShift networks.

Names follow the official ResShift code so that released checkpoints load unchanged.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def half_group_norm(x: torch.Tensor, groups: int, weight: torch.Tensor, bias: torch.Tensor,
                    eps: float) -> torch.Tensor:
    """Group normalisation of a (B, C, H, W) map: statistics in float32, output in x's dtype.

    PyTorch's CUDA group norm reduces each (sample, group) with one thread block: 32 blocks for a
    single image, on a GPU with 132 multiprocessors, plus a layout copy for channels_last input.
    Here the statistics come from two of PyTorch's general reductions, which spread a long
    reduction over the whole GPU and on CUDA read half input straight into float32 accumulators
    (no float32 copy of the map): the sum and the sum of squares (as a 2-norm). The affine step is
    one fused multiply-add in x's dtype. E[x^2] - E[x]^2 in float32 loses (mean/std)^2 * ~1e-7 of
    the variance, less than the half-precision input itself carries for any mean/std below ~5000.
    """
    b, c, h, w = x.shape
    grouped = x.view(b, groups, c // groups, h, w)  # a view in both NCHW and channels_last
    dims = (2, 3, 4)
    count = grouped[0, 0].numel()
    mean = torch.sum(grouped, dim=dims, dtype=torch.float32) / count
    meansq = torch.linalg.vector_norm(grouped, 2, dim=dims, dtype=torch.float32).square() / count
    var = (meansq - mean.square()).clamp_min(0)
    return group_affine(x, mean, var, weight, bias, eps)


def group_affine(x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, weight: torch.Tensor,
                 bias: torch.Tensor, eps: float) -> torch.Tensor:
    """x (B, C, H, W) normalised by its per-(sample, group) float32 ``mean`` and ``var`` (B, G), then
    scaled by ``weight`` and shifted by ``bias``: one fused multiply-add in x's dtype."""
    b, c = x.shape[:2]
    groups = mean.shape[1]
    scale = (var + eps).rsqrt()[:, :, None] * weight.float().view(groups, -1)  # (B, G, C/G)
    shift = bias.float().view(groups, -1) - mean[:, :, None] * scale
    return torch.addcmul(shift.view(b, c, 1, 1).to(x.dtype), x, scale.view(b, c, 1, 1).to(x.dtype))


HALF_GROUP_NORM_MIN = 2 ** 15  # elements per (sample, group) below which PyTorch's kernel is as fast


def use_half_group_norm(x: torch.Tensor, norm: nn.GroupNorm) -> bool:
    """The fast path's domain: inference on large half-precision CUDA maps (training keeps PyTorch's;
    on small maps its few launches cost less than the fast path's ten)."""
    return (x.is_cuda and x.dim() == 4 and x.dtype in (torch.float16, torch.bfloat16) and norm.affine
            and not torch.is_grad_enabled() and x.numel() >= HALF_GROUP_NORM_MIN * x.shape[0] * norm.num_groups)


class GroupNorm(nn.GroupNorm):
    """nn.GroupNorm; on half-precision CUDA inputs in inference, :func:`half_group_norm` (output in
    the input's dtype instead of autocast's float32)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if use_half_group_norm(x, self):
            return half_group_norm(x, self.num_groups, self.weight, self.bias, self.eps)
        return super().forward(x)


class GroupNorm32(nn.GroupNorm):
    """GroupNorm with 32 groups, always computed in float32 and cast back to the input dtype."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__(32, channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if use_half_group_norm(x, self):
            return half_group_norm(x, self.num_groups, self.weight, self.bias, self.eps)
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
