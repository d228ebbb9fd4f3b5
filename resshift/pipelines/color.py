"""Optional colour correction of a result towards its input (off by default).

Diffusion restorers can drift in colour. Two corrections, as SUPIR and DiffBIR offer:
- ``wavelet``: keep the result's high frequencies, take the low frequencies from the input
  (a multi-level blur decomposition with growing dilation);
- ``adain``: match each channel's mean and standard deviation to the input's.
Both take (B, 3, H, W) tensors of the same size (the input resized to the output size).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

COLOR_FIXES = ("none", "wavelet", "adain")


def adain_color_fix(result: torch.Tensor, reference: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    r_mean, r_std = result.mean((2, 3), keepdim=True), result.std((2, 3), keepdim=True)
    s_mean, s_std = reference.mean((2, 3), keepdim=True), reference.std((2, 3), keepdim=True)
    return (result - r_mean) / (r_std + eps) * s_std + s_mean


def _blur(x: torch.Tensor, dilation: int) -> torch.Tensor:
    k = torch.tensor([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=x.dtype, device=x.device) / 16
    k = k.expand(x.shape[1], 1, 3, 3)
    pad_mode = "replicate" if min(x.shape[-2:]) <= dilation else "reflect"
    x = F.pad(x, (dilation,) * 4, mode=pad_mode)
    return F.conv2d(x, k, groups=x.shape[1], dilation=dilation)


def _split(x: torch.Tensor, levels: int) -> tuple[torch.Tensor, torch.Tensor]:
    high = torch.zeros_like(x)
    for i in range(levels):
        low = _blur(x, 2 ** i)
        high = high + (x - low)
        x = low
    return high, x


def wavelet_color_fix(result: torch.Tensor, reference: torch.Tensor, levels: int = 5) -> torch.Tensor:
    high, _ = _split(result, levels)
    _, low = _split(reference, levels)
    return high + low


def color_fix(result: torch.Tensor, reference: torch.Tensor, method: str) -> torch.Tensor:
    if method == "none":
        return result
    if reference.shape[-2:] != result.shape[-2:]:
        reference = F.interpolate(reference, size=result.shape[-2:], mode="bicubic", align_corners=False)
    if method == "wavelet":
        return wavelet_color_fix(result, reference)
    if method == "adain":
        return adain_color_fix(result, reference)
    raise ValueError(f"color fix must be one of {COLOR_FIXES}, got {method!r}")
