"""GFPGAN-style blind degradation of aligned faces, per sample on the CPU (in the loader).

gt (H, W, 3) float32 RGB in [0, 1] ->
    blur (isotropic or anisotropic Gaussian, 41 x 41, basicsr's ``bivariate_Gaussian``)
    -> bilinear downsampling by s ~ U(downsample_range) -> Gaussian noise -> JPEG (OpenCV)
    -> bilinear resize back to H x W -> with ``gray_prob`` grey (and, with ``gt_gray``, a grey gt)
    -> rounded to 8-bit levels.
Defaults follow ResShift's face-restoration training (GFPGAN's pipeline with a wider range:
blur sigma 0.1-15, downsampling 0.8-32x, noise 0-20/255, JPEG quality 30-100).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Mapping

import cv2
import numpy as np
import torch

from ..runtime.compat import import_basicsr_degradations
from .folder import to_tensor
from .util import np_to_uint8_levels


@dataclass(frozen=True)
class FaceDegradationConfig:
    kernel_size: int = 41
    iso_prob: float = 0.5  # isotropic vs anisotropic Gaussian blur
    sigma_range: tuple[float, float] = (0.1, 15.0)
    downsample_range: tuple[float, float] = (0.8, 32.0)
    noise_range: tuple[float, float] = (0.0, 20.0)  # sigma, in 8-bit levels
    jpeg_range: tuple[float, float] = (30.0, 100.0)
    gray_prob: float = 0.01
    gt_gray: bool = True

    def __post_init__(self) -> None:
        if self.kernel_size % 2 == 0 or self.kernel_size < 3:
            raise ValueError(f"kernel_size must be odd and >= 3, got {self.kernel_size}")
        for name in ("sigma_range", "downsample_range", "noise_range", "jpeg_range"):
            lo, hi = (float(v) for v in getattr(self, name))
            if lo > hi or lo < 0:
                raise ValueError(f"{name} must be (low, high) with 0 <= low <= high, got {getattr(self, name)}")
            object.__setattr__(self, name, (lo, hi))
        if self.sigma_range[0] <= 0 or self.downsample_range[0] <= 0:
            raise ValueError("sigma_range and downsample_range must be positive")
        if self.jpeg_range[1] > 100:
            raise ValueError(f"jpeg_range must be within [0, 100], got {self.jpeg_range}")
        for name in ("iso_prob", "gray_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1]")

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> "FaceDegradationConfig":
        return replace(cls(), **dict(params))


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """JPEG round trip of an RGB float image in [0, 1] (OpenCV codec, 4:2:0)."""
    bgr = np.clip(np.round(img[..., ::-1] * 255.0), 0, 255).astype(np.uint8)
    ok, data = cv2.imencode(".jpg", bgr, [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)])
    if not ok:
        raise RuntimeError("OpenCV could not JPEG-encode the image")
    return cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float32) / 255.0


def _gray3(img: np.ndarray) -> np.ndarray:
    y = img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.repeat(y[..., None], 3, axis=2)


def degrade_face(gt: np.ndarray, config: FaceDegradationConfig,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(gt, lq): both (H, W, 3) float32 RGB in [0, 1]; gt is grey when lq was made grey and
    ``gt_gray``; lq is rounded to 8-bit levels."""
    deg = import_basicsr_degradations()
    h, w = gt.shape[:2]
    gt = np.ascontiguousarray(gt, dtype=np.float32)
    sig_x = float(rng.uniform(*config.sigma_range))
    if rng.random() < config.iso_prob:
        kernel = deg.bivariate_Gaussian(config.kernel_size, sig_x, sig_x, 0.0, isotropic=True)
    else:
        sig_y = float(rng.uniform(*config.sigma_range))
        theta = float(rng.uniform(-math.pi, math.pi))
        kernel = deg.bivariate_Gaussian(config.kernel_size, sig_x, sig_y, theta, isotropic=False)
    lq = cv2.filter2D(gt, -1, kernel.astype(np.float32))
    scale = float(rng.uniform(*config.downsample_range))
    lq = cv2.resize(lq, (max(1, int(w // scale)), max(1, int(h // scale))), interpolation=cv2.INTER_LINEAR)
    sigma = float(rng.uniform(*config.noise_range)) / 255.0
    lq = np.clip(lq + rng.standard_normal(lq.shape, dtype=np.float32) * sigma, 0, 1)
    lq = _jpeg(lq, int(rng.uniform(*config.jpeg_range)))
    lq = cv2.resize(lq, (w, h), interpolation=cv2.INTER_LINEAR)
    if rng.random() < config.gray_prob:
        lq = _gray3(lq)
        if config.gt_gray:
            gt = _gray3(gt)
    return gt, np_to_uint8_levels(lq)


@dataclass(frozen=True)
class FaceDegradation:
    """A :data:`~resshift.data.folder.SampleTransform` adding ``lq`` (3, H, W) float32 in [0, 1]
    (uint8 in [0, 255] with ``uint8``; lq is on 8-bit levels, so nothing is lost); ``gt`` is
    returned too (grey when the sample was made grey)."""

    config: FaceDegradationConfig = FaceDegradationConfig()
    uint8: bool = False

    def __call__(self, gt: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        gt, lq = degrade_face(gt, self.config, rng)
        if self.uint8:
            return {k: torch.from_numpy(np.round(v * 255).astype(np.uint8).transpose(2, 0, 1).copy())
                    for k, v in (("gt", gt), ("lq", lq))}
        return {"gt": to_tensor(gt), "lq": to_tensor(lq)}
