"""Small image helpers of the studio: the editor's mask, previews, the "before" image, PNG files.

Arrays are uint8 (H, W, 3) RGB or (H, W, 4) RGBA unless said otherwise. Nothing here runs a model.
"""
from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

RESAMPLE = {"bicubic": Image.BICUBIC, "nearest": Image.NEAREST}
MASK_TINT = np.array([255, 45, 85], dtype=np.float32)  # the brush colour, for previews


def editor_mask(layers: list[np.ndarray] | None, size: tuple[int, int]) -> np.ndarray:
    """The union of the drawn layers' alpha: (H, W) bool, True = repaint.

    ``layers`` are the ImageEditor's RGBA layers (any stroke colour counts, eraser strokes are
    transparent). ``size`` is the background's (width, height); layers of another size (a canvas
    that was resized) are scaled to it with nearest-neighbour.
    """
    w, h = size
    mask = np.zeros((h, w), dtype=bool)
    for layer in layers or []:
        if layer is None:
            continue
        layer = np.asarray(layer)
        if layer.ndim != 3 or layer.shape[2] < 4:
            continue  # a layer without alpha carries no strokes we can tell apart
        alpha = layer[..., 3]
        if alpha.shape != (h, w):
            alpha = np.asarray(Image.fromarray(alpha).resize((w, h), Image.NEAREST))
        mask |= alpha > 0
    return mask


def mask_preview(image: np.ndarray, mask: np.ndarray, dim: float = 0.45) -> np.ndarray:
    """The pixels to repaint tinted in the brush colour, the others scaled by ``dim`` (1 = kept):
    (H, W, 3) uint8."""
    rgb = image[..., :3].astype(np.float32)
    out = rgb * dim
    out[mask] = rgb[mask] * 0.35 + MASK_TINT * 0.65
    return np.clip(out.round(), 0, 255).astype(np.uint8)


def before_image(image: np.ndarray, size: tuple[int, int], method: str = "bicubic") -> np.ndarray:
    """The input resized to the result's (width, height), for the before/after slider."""
    if method not in RESAMPLE:
        raise ValueError(f"resample must be one of {sorted(RESAMPLE)}, got {method!r}")
    if (image.shape[1], image.shape[0]) == tuple(size):
        return image
    return np.asarray(Image.fromarray(image).resize(tuple(size), RESAMPLE[method]))


def safe_stem(name: str | None, fallback: str = "image", max_length: int = 40) -> str:
    """A file-name stem made only of [A-Za-z0-9_.-] (at most ``max_length`` characters, no leading
    dot) from an upload's name."""
    stem = Path(name or "").stem
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("_.")[:max_length]
    return stem or fallback


def new_request_dir(root: str | Path) -> Path:
    """A fresh, private folder for one request's files under ``root`` (Gradio's cache, so Gradio
    serves and later deletes them). Two requests never share a folder."""
    base = Path(root) / "resshift"
    base.mkdir(parents=True, exist_ok=True)
    prune_request_dirs(base)
    return Path(tempfile.mkdtemp(prefix="req-", dir=base))


def prune_request_dirs(base: Path, min_age: float = 600.0) -> int:
    """Remove the empty request folders under ``base`` untouched for ``min_age`` seconds (Gradio's
    cache cleaning deletes the files, not the folders). Returns how many were removed."""
    removed, now = 0, time.time()
    for folder in base.glob("req-*"):
        try:
            if now - folder.stat().st_mtime > min_age and not any(folder.iterdir()):
                folder.rmdir()
                removed += 1
        except OSError:  # another request pruned it, or it just received a file
            continue
    return removed


def contact_sheet(items: list[tuple[str | Path, str]], height: int = 256, band: int = 22) -> np.ndarray:
    """Images side by side, each scaled to ``height`` pixels high, its label written above it:
    (band + height, W, 3) uint8 (what a comparison gives an agent: one image of every run)."""
    from PIL import ImageDraw

    tiles = []
    for path, label in items:
        with Image.open(path) as img:
            img = img.convert("RGB")
            width = max(1, round(img.width * height / img.height))
            tile = Image.new("RGB", (max(width, 8), height + band), (255, 255, 255))
            tile.paste(img.resize((width, height), Image.LANCZOS), (0, band))
        ImageDraw.Draw(tile).text((4, 4), label, fill=(0, 0, 0))
        tiles.append(np.asarray(tile))
    gap = np.full((height + band, 6, 3), 255, np.uint8)
    return np.concatenate([part for tile in tiles for part in (tile, gap)][:-1], axis=1)


def save_png(image: np.ndarray, folder: Path, stem: str, icc_profile: bytes | None = None) -> Path:
    """Write a lossless PNG (RGB or RGBA), with ``icc_profile`` (the input's colour profile) when
    given, and return its path."""
    path = folder / f"{safe_stem(stem + '.png', max_length=120)}.png"
    params = {"icc_profile": icc_profile} if icc_profile else {}
    Image.fromarray(image).save(path, format="PNG", compress_level=4, **params)
    return path
