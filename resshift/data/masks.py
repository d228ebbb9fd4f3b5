"""Inpainting masks in the style of LaMa: irregular brush strokes, boxes or outpainting borders.

A mask is (1, H, W) float32 with 1 = missing, 0 = known. One generator kind is drawn per mask
(``kind_probs``); stroke and box sizes are given for 256 x 256 images and scale with the image.
The missing fraction lies in ``area_range``: masks outside it are redrawn, and after
``max_tries`` a rectangle of a drawn area in the range is used.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Mapping

import cv2
import numpy as np
import torch

from ..models.fill import classical_fill

MASK_KINDS: tuple[str, ...] = ("irregular", "box", "outpaint")


@dataclass(frozen=True)
class MaskConfig:
    area_range: tuple[float, float] = (0.05, 0.5)  # missing fraction of the image
    kind_probs: tuple[float, float, float] = (0.5, 0.3, 0.2)  # irregular, box, outpaint
    # irregular strokes (pixels at 256 x 256)
    stroke_count: tuple[int, int] = (1, 5)
    stroke_vertices: tuple[int, int] = (1, 10)
    stroke_max_angle: float = 4.0
    stroke_max_len: float = 100.0
    stroke_width: tuple[int, int] = (10, 50)
    # boxes (pixels at 256 x 256)
    box_count: tuple[int, int] = (1, 4)
    box_size: tuple[int, int] = (30, 150)
    box_margin: int = 10
    # outpainting: each side missing with probability side_prob, width a fraction of the side
    outpaint_range: tuple[float, float] = (0.04, 0.25)
    side_prob: float = 0.5
    max_tries: int = 20

    def __post_init__(self) -> None:
        lo, hi = (float(v) for v in self.area_range)
        if not 0 <= lo < hi <= 1:
            raise ValueError(f"area_range must satisfy 0 <= low < high <= 1, got {self.area_range}")
        object.__setattr__(self, "area_range", (lo, hi))
        probs = tuple(float(p) for p in self.kind_probs)
        if len(probs) != len(MASK_KINDS) or min(probs) < 0 or sum(probs) <= 0:
            raise ValueError(f"kind_probs needs {len(MASK_KINDS)} non-negative weights {MASK_KINDS}")
        object.__setattr__(self, "kind_probs", probs)
        for name in ("stroke_count", "stroke_vertices", "stroke_width", "box_count", "box_size"):
            a, b = (int(v) for v in getattr(self, name))
            if not 0 < a <= b:
                raise ValueError(f"{name} must be (low, high) with 0 < low <= high, got {getattr(self, name)}")
            object.__setattr__(self, name, (a, b))
        a, b = (float(v) for v in self.outpaint_range)
        if not 0 < a <= b < 0.5:
            raise ValueError(f"outpaint_range must satisfy 0 < low <= high < 0.5, got {self.outpaint_range}")
        object.__setattr__(self, "outpaint_range", (a, b))
        if self.max_tries < 1:
            raise ValueError("max_tries must be >= 1")

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> "MaskConfig":
        return replace(cls(), **dict(params))


def _irregular(mask: np.ndarray, config: MaskConfig, rng: np.random.Generator, unit: float) -> None:
    h, w = mask.shape
    for _ in range(int(rng.integers(config.stroke_count[0], config.stroke_count[1] + 1))):
        x, y = float(rng.uniform(0, w)), float(rng.uniform(0, h))
        width = max(1, round(rng.integers(config.stroke_width[0], config.stroke_width[1] + 1) * unit))
        heading = float(rng.uniform(0, 2 * math.pi))
        for _ in range(int(rng.integers(config.stroke_vertices[0], config.stroke_vertices[1] + 1))):
            heading += float(rng.uniform(-config.stroke_max_angle, config.stroke_max_angle)) / 2
            length = (10 + float(rng.uniform(0, config.stroke_max_len))) * unit
            nx = float(np.clip(x + length * math.cos(heading), 0, w - 1))
            ny = float(np.clip(y + length * math.sin(heading), 0, h - 1))
            cv2.line(mask, (round(x), round(y)), (round(nx), round(ny)), 1.0, width)
            cv2.circle(mask, (round(nx), round(ny)), width // 2, 1.0, -1)
            x, y = nx, ny


def _boxes(mask: np.ndarray, config: MaskConfig, rng: np.random.Generator, unit: float) -> None:
    h, w = mask.shape
    margin = round(config.box_margin * unit)
    for _ in range(int(rng.integers(config.box_count[0], config.box_count[1] + 1))):
        bw = min(w - 2 * margin, max(1, round(rng.integers(config.box_size[0], config.box_size[1] + 1) * unit)))
        bh = min(h - 2 * margin, max(1, round(rng.integers(config.box_size[0], config.box_size[1] + 1) * unit)))
        if bw < 1 or bh < 1:
            continue
        left = int(rng.integers(margin, w - margin - bw + 1))
        top = int(rng.integers(margin, h - margin - bh + 1))
        mask[top:top + bh, left:left + bw] = 1.0


def _outpaint(mask: np.ndarray, config: MaskConfig, rng: np.random.Generator) -> None:
    h, w = mask.shape
    sides = rng.random(4) < config.side_prob
    if not sides.any():
        sides[int(rng.integers(4))] = True
    top, bottom, left, right = (round(float(rng.uniform(*config.outpaint_range)) * (h if i < 2 else w))
                                for i in range(4))
    if sides[0]:
        mask[:top] = 1.0
    if sides[1]:
        mask[h - bottom:] = 1.0
    if sides[2]:
        mask[:, :left] = 1.0
    if sides[3]:
        mask[:, w - right:] = 1.0


def _fallback(shape: tuple[int, int], config: MaskConfig, rng: np.random.Generator) -> np.ndarray:
    """A rectangle whose area is a fraction drawn from the allowed range."""
    h, w = shape
    lo, hi = config.area_range
    target = float(rng.uniform(lo, hi))
    rows = int(np.clip(round(math.sqrt(target) * h), 1, h))
    cols = int(np.clip(round(target * h * w / rows), 1, w))
    mask = np.zeros(shape, dtype=np.float32)
    top, left = int(rng.integers(0, h - rows + 1)), int(rng.integers(0, w - cols + 1))
    mask[top:top + rows, left:left + cols] = 1.0
    area = mask.mean()
    if not lo <= area <= hi:  # rounding on tiny images: a full-width band with a row count in range
        rows = int(np.clip(round(target * h), math.ceil(lo * h), math.floor(hi * h)))
        mask[:] = 0.0
        mask[:rows] = 1.0
    return mask


def random_mask(height: int, width: int, config: MaskConfig, rng: np.random.Generator) -> np.ndarray:
    """(height, width) float32 mask in {0, 1} (1 = missing) with its area in ``config.area_range``."""
    lo, hi = config.area_range
    if math.floor(hi * height) < math.ceil(lo * height):
        raise ValueError(f"area_range {config.area_range} admits no mask on a {height}x{width} image")
    unit = math.sqrt(height * width) / 256.0
    probs = np.asarray(config.kind_probs) / sum(config.kind_probs)
    for _ in range(config.max_tries):
        mask = np.zeros((height, width), dtype=np.float32)
        kind = MASK_KINDS[int(rng.choice(len(probs), p=probs))]
        if kind == "irregular":
            _irregular(mask, config, rng, unit)
        elif kind == "box":
            _boxes(mask, config, rng, unit)
        else:
            _outpaint(mask, config, rng)
        if lo <= float(mask.mean()) <= hi:
            return mask
    return _fallback((height, width), config, rng)


@dataclass(frozen=True)
class InpaintMasks:
    """A :data:`~resshift.data.folder.SampleTransform` adding ``mask`` ((1, H, W) float32, 1 = missing)
    and, when ``hole_fill`` is a classical fill ('telea', 'ns': the model spec's ``hole_fill``),
    ``filled``: (3, H, W) uint8, the crop with its holes filled by ``cv2.inpaint`` from the known
    pixels, as the inpainting pipeline builds y0 at inference."""

    config: MaskConfig = MaskConfig()
    hole_fill: str = "blank"

    def __call__(self, gt: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        h, w = gt.shape[:2]
        mask = random_mask(h, w, self.config, rng)
        out = {"mask": torch.from_numpy(mask)[None]}
        if self.hole_fill != "blank":
            image = gt if gt.dtype == np.uint8 else (np.clip(gt, 0, 1) * 255).round().astype(np.uint8)
            filled = classical_fill(image, mask > 0.5, self.hole_fill)
            out["filled"] = torch.from_numpy(np.ascontiguousarray(filled.transpose(2, 0, 1)))
        return out
