"""Real-ESRGAN's second-order degradation for x4 super-resolution, batched on the training device.

gt (B, 3, H, W) in [0, 1] -> lq (B, 3, H/sf, W/sf) in [0, 1], rounded to 8-bit levels:

    blur(kernel1) -> random resize -> Gaussian or Poisson noise -> JPEG
    with second_order_prob: [blur(kernel2) with second_blur_prob -> resize -> noise]
    then, in random order, [resize to H/sf + sinc filter] and JPEG

Per-sample kernels come from the loader (:class:`~resshift.data.kernels.RealESRGANKernels`);
the rest runs here in torch with basicsr's ``filter2D``, ``DiffJPEG`` and ``USMSharp``. As in
Real-ESRGAN, the resize type/scale/mode and the noise type are drawn once per batch (from the
CPU generator ``choices``); noise levels, grey noise and JPEG qualities per sample (from
``generator``, on the images' device). A share ``bicubic_prob`` of the samples gets plain
bicubic downsampling instead. Defaults are Real-ESRGAN's (``train_realesrnet_x4plus``); ResShift
trains with ``second_order_prob=0.5``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ..runtime.compat import install_torchvision_compat
from .kernels import BlurKernelConfig, RealESRGANKernels
from .noise import add_gaussian_noise, add_poisson_noise
from .util import choose, draw, to_uint8_levels, uniform

RESIZE_MODES: tuple[str, ...] = ("area", "bilinear", "bicubic")
_FILTER_RADIUS = 10  # 21x21 kernels need images larger than 10 pixels (reflect padding)


def _pair(value: Any) -> tuple[float, float]:
    lo, hi = (float(v) for v in value)
    if lo > hi:
        raise ValueError(f"range must be (low, high) with low <= high, got {value}")
    return lo, hi


def _probs(value: Any) -> tuple[float, float, float]:
    p = tuple(float(v) for v in value)
    if len(p) != 3 or min(p) < 0 or sum(p) <= 0:
        raise ValueError(f"resize probabilities must be three non-negative weights (up, down, keep), got {value}")
    return p  # type: ignore[return-value]


@dataclass(frozen=True)
class RealESRGANConfig:
    sf: int = 4
    kernel1: BlurKernelConfig = BlurKernelConfig()
    kernel2: BlurKernelConfig = BlurKernelConfig(sigma_range=(0.2, 1.5))
    final_sinc_prob: float = 0.8
    # first degradation
    resize_prob: tuple[float, float, float] = (0.2, 0.7, 0.1)  # up, down, keep
    resize_range: tuple[float, float] = (0.15, 1.5)
    gaussian_noise_prob: float = 0.5
    noise_range: tuple[float, float] = (1.0, 30.0)
    poisson_scale_range: tuple[float, float] = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_range: tuple[float, float] = (30.0, 95.0)
    # second degradation
    second_order_prob: float = 1.0
    second_blur_prob: float = 0.8
    resize_prob2: tuple[float, float, float] = (0.3, 0.4, 0.3)
    resize_range2: tuple[float, float] = (0.3, 1.2)
    gaussian_noise_prob2: float = 0.5
    noise_range2: tuple[float, float] = (1.0, 25.0)
    poisson_scale_range2: tuple[float, float] = (0.05, 2.5)
    gray_noise_prob2: float = 0.4
    jpeg_range2: tuple[float, float] = (30.0, 95.0)
    # share of plain bicubic x sf downsampling (per sample)
    bicubic_prob: float = 0.3
    sharpen_gt: bool = False  # USM-sharpen gt first (Real-ESRGAN's gt_usm; ResShift: off)

    def __post_init__(self) -> None:
        if self.sf < 1:
            raise ValueError(f"sf must be >= 1, got {self.sf}")
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name.startswith("resize_prob"):
                object.__setattr__(self, f.name, _probs(value))
            elif f.name.endswith("_range") or f.name.endswith("_range2"):
                object.__setattr__(self, f.name, _pair(value))
            elif f.name.endswith("_prob") or f.name.endswith("_prob2"):
                if not 0 <= float(value) <= 1:
                    raise ValueError(f"{f.name} must be in [0, 1], got {value}")
        if not 0 < self.resize_range[0] or not 0 < self.resize_range2[0]:
            raise ValueError("resize ranges must be positive")
        if not 0 <= self.jpeg_range[0] <= self.jpeg_range[1] <= 100:
            raise ValueError(f"jpeg_range must be within [0, 100], got {self.jpeg_range}")

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> "RealESRGANConfig":
        p = dict(params)
        base = cls()
        for name in ("kernel1", "kernel2"):
            if name in p and not isinstance(p[name], BlurKernelConfig):
                p[name] = BlurKernelConfig.from_dict(p[name], getattr(base, name))
        return replace(base, **p)

    @property
    def kernels(self) -> RealESRGANKernels:
        """The per-sample transform that draws this configuration's kernels in the loader."""
        return RealESRGANKernels(self.kernel1, self.kernel2, self.final_sinc_prob)

    def min_size(self) -> int:
        """Smallest gt side the pipeline accepts (the 21x21 filters need > 10 pixels everywhere)."""
        side = self.sf * (_FILTER_RADIUS + 1)  # the final sinc filter runs at H / sf
        while int(side * self.resize_range[0]) <= _FILTER_RADIUS:  # the second blur, after the first resize
            side += self.sf
        return side


def jpeg_factor(quality: torch.Tensor) -> torch.Tensor:
    """basicsr's ``quality_to_factor`` (the IJG quality scaling), vectorised: (B,) -> (B,)."""
    return torch.where(quality < 50, 5000.0 / quality, 200.0 - quality * 2) / 100.0


def diff_jpeg(jpeg: nn.Module, img: torch.Tensor, quality: torch.Tensor) -> torch.Tensor:
    """What basicsr's ``DiffJPEG.forward(img, quality)`` computes, with the per-sample quality
    factors computed in one tensor op: ``forward`` converts them one element at a time, each a
    device-to-host sync on a GPU. img (B, 3, H, W) in [0, 1]; returns a contiguous tensor."""
    h, w = img.shape[-2:]
    pad_h, pad_w = (-h) % 16, (-w) % 16
    x = F.pad(img, (0, pad_w, 0, pad_h), mode="constant", value=0)
    factor = jpeg_factor(quality)
    y, cb, cr = jpeg.compress(x, factor=factor)
    out = jpeg.decompress(y, cb, cr, h + pad_h, w + pad_w, factor=factor)
    return out[:, :, :h, :w].contiguous()  # basicsr's filter2D needs contiguous input


def _resize_scale(probs: tuple[float, float, float], value_range: tuple[float, float],
                  choices: torch.Generator) -> float:
    kind = choose(3, probs, choices)
    if kind == 0:  # up
        return 1.0 + draw(choices) * (value_range[1] - 1.0)
    if kind == 1:  # down
        return value_range[0] + draw(choices) * (1.0 - value_range[0])
    return 1.0


def _resize_mode(choices: torch.Generator) -> str:
    return RESIZE_MODES[choose(len(RESIZE_MODES), None, choices)]


class RealESRGANDegradation:
    """Callable: ``degrade(gt, kernel1, kernel2, sinc_kernel, generator=, choices=) -> (gt, lq)``.

    Holds the JPEG simulator and sharpener per device; no random state of its own.
    """

    def __init__(self, config: RealESRGANConfig = RealESRGANConfig()):
        install_torchvision_compat()
        from basicsr.utils import DiffJPEG, USMSharp
        from basicsr.utils.img_process_util import filter2D

        self.config = config
        self._filter2d = filter2D
        self._jpeg_cls, self._usm_cls = DiffJPEG, USMSharp
        self._modules: dict[tuple[str, str], nn.Module] = {}

    def _module(self, kind: str, device: torch.device) -> nn.Module:
        key = (kind, str(device))
        if key not in self._modules:
            module = self._jpeg_cls(differentiable=False) if kind == "jpeg" else self._usm_cls()
            self._modules[key] = module.to(device).requires_grad_(False)
        return self._modules[key]

    def _jpeg(self, img: torch.Tensor, quality_range: tuple[float, float], generator: torch.Generator) -> torch.Tensor:
        quality = uniform(img.shape[0], quality_range, generator, img.device)
        return diff_jpeg(self._module("jpeg", img.device), img.clamp(0, 1), quality)

    def _noise(self, img: torch.Tensor, gaussian_prob: float, sigma_range, scale_range, gray_prob: float,
               generator: torch.Generator, choices: torch.Generator) -> torch.Tensor:
        if draw(choices) < gaussian_prob:
            return add_gaussian_noise(img, sigma_range, gray_prob, generator)
        return add_poisson_noise(img, scale_range, gray_prob, generator)

    @torch.no_grad()
    def __call__(self, gt: torch.Tensor, kernel1: torch.Tensor, kernel2: torch.Tensor,
                 sinc_kernel: torch.Tensor, *, generator: torch.Generator,
                 choices: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """gt (B, 3, H, W) in [0, 1], kernels (B, 21, 21) -> (gt, lq (B, 3, H/sf, W/sf)), both float32
        in [0, 1]; gt is returned sharpened when ``sharpen_gt``. H and W: multiples of sf, at least
        :meth:`RealESRGANConfig.min_size`."""
        cfg = self.config
        b, c, h, w = gt.shape
        if c != 3 or h % cfg.sf or w % cfg.sf:
            raise ValueError(f"gt must be (B, 3, H, W) with H, W multiples of {cfg.sf}, got {tuple(gt.shape)}")
        if min(h, w) < cfg.min_size():
            raise ValueError(f"gt crops must be at least {cfg.min_size()} pixels for this degradation, got {h}x{w}")
        device = gt.device
        gt = gt.float()
        kernel1, kernel2, sinc_kernel = (k.to(device=device, dtype=torch.float32)
                                         for k in (kernel1, kernel2, sinc_kernel))
        if cfg.sharpen_gt:
            gt = self._module("usm", device)(gt)
        out_size = (h // cfg.sf, w // cfg.sf)

        # first degradation
        out = self._filter2d(gt, kernel1)
        scale = _resize_scale(cfg.resize_prob, cfg.resize_range, choices)
        out = F.interpolate(out, scale_factor=scale, mode=_resize_mode(choices))
        out = self._noise(out, cfg.gaussian_noise_prob, cfg.noise_range, cfg.poisson_scale_range,
                          cfg.gray_noise_prob, generator, choices)
        out = self._jpeg(out, cfg.jpeg_range, generator)

        # second degradation
        if draw(choices) < cfg.second_order_prob:
            if draw(choices) < cfg.second_blur_prob:
                out = self._filter2d(out, kernel2)
            scale = _resize_scale(cfg.resize_prob2, cfg.resize_range2, choices)
            size = (max(1, int(h / cfg.sf * scale)), max(1, int(w / cfg.sf * scale)))
            out = F.interpolate(out, size=size, mode=_resize_mode(choices))
            out = self._noise(out, cfg.gaussian_noise_prob2, cfg.noise_range2, cfg.poisson_scale_range2,
                              cfg.gray_noise_prob2, generator, choices)

        # [resize to the output size + sinc] and JPEG, in random order
        if draw(choices) < 0.5:
            out = F.interpolate(out, size=out_size, mode=_resize_mode(choices))
            out = self._filter2d(out, sinc_kernel)
            out = self._jpeg(out, cfg.jpeg_range2, generator)
        else:
            out = self._jpeg(out, cfg.jpeg_range2, generator)
            out = F.interpolate(out, size=out_size, mode=_resize_mode(choices))
            out = self._filter2d(out, sinc_kernel)
        lq = to_uint8_levels(out)

        use_bicubic = torch.rand(b, generator=generator, device=device) < cfg.bicubic_prob
        bicubic = to_uint8_levels(F.interpolate(gt, size=out_size, mode="bicubic", antialias=True))
        lq = torch.where(use_bicubic.view(b, 1, 1, 1), bicubic, lq)
        return gt, lq.contiguous()


def bicubic_downsample(gt: torch.Tensor, sf: int) -> torch.Tensor:
    """Plain x sf bicubic downsampling (antialiased), rounded to 8-bit levels: (B, 3, H/sf, W/sf)."""
    h, w = gt.shape[-2:]
    return to_uint8_levels(F.interpolate(gt.float(), size=(h // sf, w // sf), mode="bicubic", antialias=True))

