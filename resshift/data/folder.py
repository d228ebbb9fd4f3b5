"""An image-folder dataset of random training crops, with explicit per-sample randomness.

Sample ``k`` (any k >= 0: the dataset can be longer than the folder) shows image
``perm_e[k mod n]`` of epoch ``e = k // n`` (a permutation drawn from (seed, e)) and draws its crop,
flips and task extras from ``numpy.random.default_rng((seed, k))``. So a sample depends only on
(seed, k): not on the worker that loads it, the number of workers or the global RNGs, and a
resumed run that starts at sample ``step * batch`` sees exactly the data it would have seen.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import cv2
import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp")

# (gt HxWx3 float32 in [0, 1], rng) -> extra tensors for the sample (kernels, a mask, a degraded image)
SampleTransform = Callable[[np.ndarray, np.random.Generator], dict[str, torch.Tensor]]


def list_images(root: str | Path) -> tuple[Path, ...]:
    """All jpg/jpeg/png/webp files under ``root`` (recursively, any case), sorted."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"image folder not found: {root}")
    paths = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not paths:
        raise ValueError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in {root}")
    return tuple(paths)


def load_rgb(path: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB; grey, palette and RGBA images are converted (alpha dropped)."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    h, w = image.shape[:2]
    shrink = width * height < w * h
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)


@dataclass(frozen=True)
class CropConfig:
    """How a training image becomes a ``size`` x ``size`` crop.

    mode 'crop': rescale by a factor drawn from ``scale_range`` (never below what keeps the short
    side >= size, so small images are upscaled rather than padded), then crop at a random place.
    mode 'resize': resize the whole image to size x size (aligned faces).
    mode 'center': upscale if needed, then the central crop (validation; no randomness but flips).
    """

    size: int
    mode: Literal["crop", "resize", "center"] = "crop"
    scale_range: tuple[float, float] = (1.0, 1.0)
    hflip: bool = True
    vflip: bool = False

    def __post_init__(self) -> None:
        if self.size < 8:
            raise ValueError(f"crop size must be >= 8, got {self.size}")
        if self.mode not in ("crop", "resize", "center"):
            raise ValueError(f"crop mode must be 'crop', 'resize' or 'center', got {self.mode!r}")
        lo, hi = self.scale_range
        if not 0 < lo <= hi:
            raise ValueError(f"scale_range must satisfy 0 < low <= high, got {self.scale_range}")
        object.__setattr__(self, "scale_range", (float(lo), float(hi)))


def random_crop(image: np.ndarray, config: CropConfig, rng: np.random.Generator) -> np.ndarray:
    """(H, W, C) -> (size, size, C), same dtype; see :class:`CropConfig`."""
    size = config.size
    if config.mode == "resize":
        out = _resize(image, size, size)
    else:
        h, w = image.shape[:2]
        scale = 1.0 if config.mode == "center" else float(rng.uniform(*config.scale_range))
        scale = max(scale, size / min(h, w))
        if abs(scale - 1.0) > 1e-6:
            image = _resize(image, max(size, round(w * scale)), max(size, round(h * scale)))
            h, w = image.shape[:2]
        if config.mode == "center":
            top, left = (h - size) // 2, (w - size) // 2
        else:
            top = int(rng.integers(0, h - size + 1))
            left = int(rng.integers(0, w - size + 1))
        out = image[top:top + size, left:left + size]
    if config.hflip and rng.random() < 0.5:
        out = out[:, ::-1]
    if config.vflip and rng.random() < 0.5:
        out = out[::-1]
    return np.ascontiguousarray(out)


def to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 or float in [0, 1] -> (3, H, W) float32 in [0, 1]."""
    if image.dtype == np.uint8:
        image = image.astype(np.float32) / 255.0
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))


class ImageFolder(Dataset):
    """Random crops of the images in a folder: sample k -> {'gt': (3, S, S) float32 in [0, 1], ...}
    (uint8 in [0, 255] with ``uint8``: a quarter of the bytes through the loader's shared memory).

    length: the dataset's length (default: the number of images); sample indices may exceed the
    number of images, each pass over the images being a new seeded permutation.
    transform: adds task data drawn from the sample's rng (Real-ESRGAN kernels, a mask, a
    degraded face), computed in the DataLoader worker.
    cache: decode every image once, here (before the loader forks its workers, which then share
    the decoded pixels): no JPEG decoding per sample, at the cost of H*W*3 bytes per image.
    """

    def __init__(self, root: str | Path | Sequence[str | Path], crop: CropConfig, seed: int = 0,
                 length: int | None = None, transform: SampleTransform | None = None, cache: bool = False,
                 uint8: bool = False):
        if isinstance(root, (str, Path)):
            self.paths = list_images(root)
        else:
            self.paths = tuple(Path(p) for p in root)
            if not self.paths:
                raise ValueError("ImageFolder needs at least one image")
        self.crop = crop
        self.seed = int(seed)
        self.length = len(self.paths) if length is None else int(length)
        self.transform = transform
        self.uint8 = uint8
        self._perms: dict[int, np.ndarray] = {}
        self._cache = [load_rgb(p) for p in self.paths] if cache else None

    def __len__(self) -> int:
        return self.length

    def image_index(self, index: int) -> int:
        n = len(self.paths)
        epoch = index // n
        perm = self._perms.get(epoch)
        if perm is None:
            if len(self._perms) > 4:
                self._perms.clear()
            perm = self._perms[epoch] = np.random.default_rng((self.seed, epoch, 0x5EED)).permutation(n)
        return int(perm[index % n])

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng((self.seed, int(index)))

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index < 0:
            raise IndexError(f"sample index must be >= 0, got {index}")
        rng = self.rng(index)
        i = self.image_index(index)
        image = self._cache[i] if self._cache is not None else load_rgb(self.paths[i])
        crop = random_crop(image, self.crop, rng)
        gt = torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1))) if self.uint8 else to_tensor(crop)
        sample: dict[str, Any] = {"gt": gt, "index": int(index)}
        if self.transform is not None:
            sample.update(self.transform(crop.astype(np.float32) / 255.0, rng))
        return sample
