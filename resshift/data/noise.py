"""Batched Gaussian and Poisson noise as Real-ESRGAN adds it, drawn from an explicit torch.Generator.

Same model as basicsr's ``random_add_gaussian_noise_pt`` / ``random_add_poisson_noise_pt`` (which
draw from torch's global RNG): per sample a noise level, and with ``gray_prob`` the same noise on
all three channels (computed on the grey image for Poisson noise). Images are (B, 3, H, W) in
[0, 1]; the results are clamped to [0, 1]. The generator's device must be the images' device.
"""
from __future__ import annotations

import torch

from .util import uniform


def _gray(img: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 1, H, W) luma (ITU-R 601-2, as torchvision's rgb_to_grayscale)."""
    r, g, b = img.unbind(1)
    return (0.2989 * r + 0.587 * g + 0.114 * b).unsqueeze(1)


def add_gaussian_noise(img: torch.Tensor, sigma_range: tuple[float, float], gray_prob: float,
                       generator: torch.Generator) -> torch.Tensor:
    """img + N(0, sigma^2), sigma ~ U(sigma_range) / 255 per sample; grey (channel-shared) noise
    with probability ``gray_prob`` per sample. Clamped to [0, 1]."""
    b = img.shape[0]
    sigma = uniform(b, sigma_range, generator, img.device).view(b, 1, 1, 1) / 255.0
    gray = (torch.rand(b, generator=generator, device=img.device) < gray_prob).view(b, 1, 1, 1)
    color = torch.randn(img.shape, generator=generator, device=img.device, dtype=img.dtype)
    mono = torch.randn((b, 1) + tuple(img.shape[2:]), generator=generator, device=img.device, dtype=img.dtype)
    noise = torch.where(gray, mono.expand_as(img), color) * sigma
    return (img + noise).clamp(0, 1)


def _poisson_noise(img: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Shot noise of the 8-bit-rounded image; photon count per level 2**ceil(log2(#distinct levels))."""
    b = img.shape[0]
    levels = (img * 255.0).round().clamp(0, 255)
    img = levels / 255.0
    counts = torch.zeros(b, 256, device=img.device).scatter_add_(
        1, levels.view(b, -1).long(), torch.ones_like(levels).view(b, -1))
    distinct = (counts > 0).sum(1).clamp(min=1).float()
    vals = torch.exp2(torch.ceil(torch.log2(distinct))).view(b, 1, 1, 1)
    return torch.poisson(img * vals, generator=generator) / vals - img


def add_poisson_noise(img: torch.Tensor, scale_range: tuple[float, float], gray_prob: float,
                      generator: torch.Generator) -> torch.Tensor:
    """img + scale * shot noise, scale ~ U(scale_range) per sample; grey noise with ``gray_prob``.
    Clamped to [0, 1]."""
    b = img.shape[0]
    scale = uniform(b, scale_range, generator, img.device).view(b, 1, 1, 1)
    gray = (torch.rand(b, generator=generator, device=img.device) < gray_prob).view(b, 1, 1, 1)
    noise = torch.where(gray, _poisson_noise(_gray(img), generator).expand_as(img), _poisson_noise(img, generator))
    return (img + noise * scale).clamp(0, 1)
