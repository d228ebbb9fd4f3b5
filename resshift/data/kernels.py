"""Per-sample blur kernels of Real-ESRGAN's degradation model, drawn on the CPU in the loader.

The kernel shapes come from basicsr (``bivariate_Gaussian``, ``bivariate_generalized_Gaussian``,
``bivariate_plateau``, ``circular_lowpass_kernel``); their parameters are drawn here from an
explicit ``numpy.random.Generator`` with the distributions of basicsr's ``random_mixed_kernels``
(which would draw from numpy's global RNG). Kernel sizes are odd, 7..21, zero-padded to 21.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Mapping

import numpy as np
import torch

from ..runtime.compat import import_basicsr_degradations

KERNEL_TYPES: tuple[str, ...] = (
    "iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso",
)
KERNEL_SIZES: tuple[int, ...] = tuple(range(7, 22, 2))
PAD_TO = 21


def _pair(value: Any, name: str) -> tuple[float, float]:
    lo, hi = (float(v) for v in value)
    if lo > hi:
        raise ValueError(f"{name} must be (low, high) with low <= high, got {value}")
    return lo, hi


@dataclass(frozen=True)
class BlurKernelConfig:
    """One blur of Real-ESRGAN: a random kernel type (or, with ``sinc_prob``, a sinc) of random size.

    Defaults are Real-ESRGAN's first blur; its second blur uses ``sigma_range=(0.2, 1.5)``.
    """

    kernel_types: tuple[str, ...] = KERNEL_TYPES
    kernel_probs: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    sigma_range: tuple[float, float] = (0.2, 3.0)
    betag_range: tuple[float, float] = (0.5, 4.0)  # generalized Gaussian shape
    betap_range: tuple[float, float] = (1.0, 2.0)  # plateau shape
    sinc_prob: float = 0.1
    sizes: tuple[int, ...] = KERNEL_SIZES

    def __post_init__(self) -> None:
        object.__setattr__(self, "kernel_types", tuple(self.kernel_types))
        object.__setattr__(self, "kernel_probs", tuple(float(p) for p in self.kernel_probs))
        object.__setattr__(self, "sizes", tuple(int(s) for s in self.sizes))
        for name in ("sigma_range", "betag_range", "betap_range"):
            object.__setattr__(self, name, _pair(getattr(self, name), name))
        unknown = set(self.kernel_types) - set(KERNEL_TYPES)
        if unknown:
            raise ValueError(f"unknown kernel types {sorted(unknown)}; known: {KERNEL_TYPES}")
        if len(self.kernel_probs) != len(self.kernel_types) or min(self.kernel_probs) < 0 \
                or sum(self.kernel_probs) <= 0:
            raise ValueError("kernel_probs needs one non-negative weight per kernel type")
        if not self.sizes or any(s % 2 == 0 or not 3 <= s <= PAD_TO for s in self.sizes):
            raise ValueError(f"kernel sizes must be odd and in 3..{PAD_TO}, got {self.sizes}")
        if not 0 <= self.sinc_prob <= 1:
            raise ValueError(f"sinc_prob must be in [0, 1], got {self.sinc_prob}")

    @classmethod
    def from_dict(cls, params: Mapping[str, Any], base: "BlurKernelConfig | None" = None) -> "BlurKernelConfig":
        return replace(base or cls(), **dict(params))


def _beta(rng: np.random.Generator, beta_range: tuple[float, float]) -> float:
    # as basicsr: half the time below 1 (sharper than Gaussian), half above
    if rng.random() < 0.5:
        return float(rng.uniform(beta_range[0], 1.0))
    return float(rng.uniform(1.0, beta_range[1]))


def mixed_kernel(rng: np.random.Generator, config: BlurKernelConfig, size: int) -> np.ndarray:
    """A (size, size) float64 kernel summing to 1, of a type drawn with ``config.kernel_probs``."""
    deg = import_basicsr_degradations()
    probs = np.asarray(config.kernel_probs) / sum(config.kernel_probs)
    kind = config.kernel_types[int(rng.choice(len(probs), p=probs))]
    isotropic = kind.endswith("iso") and not kind.endswith("aniso")
    sig_x = float(rng.uniform(*config.sigma_range))
    if isotropic:
        sig_y, theta = sig_x, 0.0
    else:
        sig_y = float(rng.uniform(*config.sigma_range))
        theta = float(rng.uniform(-math.pi, math.pi))
    if kind in ("iso", "aniso"):
        return deg.bivariate_Gaussian(size, sig_x, sig_y, theta, isotropic=isotropic)
    if kind.startswith("generalized"):
        beta = _beta(rng, config.betag_range)
        return deg.bivariate_generalized_Gaussian(size, sig_x, sig_y, theta, beta, isotropic=isotropic)
    beta = _beta(rng, config.betap_range)
    return deg.bivariate_plateau(size, sig_x, sig_y, theta, beta, isotropic=isotropic)


def _pad(kernel: np.ndarray, pad_to: int = PAD_TO) -> np.ndarray:
    p = (pad_to - kernel.shape[0]) // 2
    return np.pad(kernel, ((p, p), (p, p))) if p > 0 else kernel


def blur_kernel(rng: np.random.Generator, config: BlurKernelConfig) -> np.ndarray:
    """(21, 21) float32 kernel summing to 1: a sinc with ``sinc_prob``, else a mixed kernel."""
    deg = import_basicsr_degradations()
    size = int(rng.choice(config.sizes))
    if rng.random() < config.sinc_prob:
        # cut-off range as Real-ESRGAN: small kernels cannot represent low cut-offs
        low = math.pi / 3 if size < 13 else math.pi / 5
        kernel = deg.circular_lowpass_kernel(float(rng.uniform(low, math.pi)), size, pad_to=0)
    else:
        kernel = mixed_kernel(rng, config, size)
    return _pad(kernel).astype(np.float32)


def pulse_kernel(size: int = PAD_TO) -> np.ndarray:
    """The identity kernel: (size, size) zeros with a 1 in the middle."""
    kernel = np.zeros((size, size), dtype=np.float32)
    kernel[size // 2, size // 2] = 1.0
    return kernel


def final_sinc_kernel(rng: np.random.Generator, prob: float, sizes: tuple[int, ...] = KERNEL_SIZES) -> np.ndarray:
    """Real-ESRGAN's last filter: with ``prob`` a sinc (cut-off in [pi/3, pi]), else the identity."""
    if rng.random() >= prob:
        return pulse_kernel()
    deg = import_basicsr_degradations()
    size = int(rng.choice(sizes))
    kernel = deg.circular_lowpass_kernel(float(rng.uniform(math.pi / 3, math.pi)), size, pad_to=PAD_TO)
    return np.asarray(kernel, dtype=np.float32)


@dataclass(frozen=True)
class RealESRGANKernels:
    """A :data:`~resshift.data.folder.SampleTransform` adding ``kernel1``, ``kernel2`` and
    ``sinc_kernel`` ((21, 21) float32 tensors) to a sample."""

    kernel1: BlurKernelConfig = BlurKernelConfig()
    kernel2: BlurKernelConfig = BlurKernelConfig(sigma_range=(0.2, 1.5))
    final_sinc_prob: float = 0.8

    def __call__(self, gt: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        return {
            "kernel1": torch.from_numpy(blur_kernel(rng, self.kernel1)),
            "kernel2": torch.from_numpy(blur_kernel(rng, self.kernel2)),
            "sinc_kernel": torch.from_numpy(final_sinc_kernel(rng, self.final_sinc_prob)),
        }
