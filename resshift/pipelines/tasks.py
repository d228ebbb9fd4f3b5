"""Task pipelines: images in, images out (PIL, numpy or file paths; any size).

- ``super_resolve``: x sf super-resolution (sf = 4 for every released SR model)
- ``inpaint``: fill the masked pixels (mask 1 = missing); known pixels are returned exactly
- ``restore_face``: blind restoration of an aligned 512x512 face (for whole photos see resshift.face)
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..loader import RestorationModel
from .color import color_fix
from .image_io import (DecodedImage, ImageLike, ImageTooLargeError, InvalidImageError, attach_alpha,
                       decode_image, from_model_output, to_model_input)
from .options import ProgressEvent, RestoreOptions, RestoreResult
from .restore import run_model

FACE_SIZE = 512


class InvalidMaskError(ValueError):
    """The inpainting mask is empty, of the wrong size or unreadable."""


def _whole(options: RestoreOptions) -> RestoreOptions:
    """Faces are restored whole (one 512x512 tile) unless a tile size is asked for explicitly."""
    return options if options.tile is not None else replace(options, tile=0)


def _check_task(model: RestorationModel, task: str) -> None:
    if model.spec.task != task:
        raise ValueError(f"model {model.spec.name!r} is a {model.spec.task!r} model, not {task!r}")


def _finish(model: RestorationModel, out: torch.Tensor, y: torch.Tensor, options: RestoreOptions) -> torch.Tensor:
    """The colour fix when asked for; a greyscale input (R = G = B everywhere) gives a greyscale
    result (the networks work in colour and would otherwise add faint colour noise to it)."""
    if options.color_fix != "none":
        out = color_fix(out, y.to(out.device), options.color_fix)
    grey = ((y[:, 0] == y[:, 1]) & (y[:, 1] == y[:, 2])).flatten(1).all(dim=1).to(out.device)  # per image
    if grey.any():
        out = torch.where(grey[:, None, None, None], out.mean(dim=1, keepdim=True).expand_as(out), out)
    return out


def _result(model, image, schedule, seed, tiles, started, **extra) -> RestoreResult:
    return RestoreResult(image=image, model=model.spec.name, steps=schedule.num_steps,
                         kappa=schedule.kappa, seed=seed, timesteps=schedule.timesteps,
                         device=str(model.device), seconds=time.perf_counter() - started, tiles=tiles,
                         extra=extra)


def super_resolve(
    model: RestorationModel,
    image: ImageLike | DecodedImage,
    options: RestoreOptions = RestoreOptions(),
    *,
    callback: Callable[[ProgressEvent], None] | None = None,
    max_pixels: int | None = None,
) -> RestoreResult:
    """x sf super-resolution. The input is reflect-padded to the model's size multiple (64 input
    pixels for the released models, as the official inference) and cropped back."""
    _check_task(model, "sr")
    started = time.perf_counter()
    img = image if isinstance(image, DecodedImage) else decode_image(image, max_pixels=max_pixels)
    y = to_model_input(img.rgb)
    out, schedule, seed, tiles = run_model(model, y, options, callback=callback)
    out = _finish(model, out, y, options)
    return _result(model, attach_alpha(from_model_output(out), img.alpha), schedule, seed, tiles, started)


def decode_mask(mask: ImageLike, size: tuple[int, int]) -> np.ndarray:
    """Any mask image/array -> (H, W) bool, True = missing. Non-binary masks are thresholded at half.

    An RGBA mask uses its alpha; otherwise the brightness. Arrays are read as images (uint8 0-255,
    float 0-1), except bool arrays and integer arrays of only 0 and 1, where 1 = missing. ``size``
    is the image's (width, height).
    """
    def wrong_size(mask_size: tuple[int, int]) -> InvalidMaskError:
        return InvalidMaskError(
            f"the mask is {mask_size[0]}x{mask_size[1]} but the image is {size[0]}x{size[1]}; "
            "draw or upload a mask of the image's size")

    if isinstance(mask, np.ndarray) and mask.dtype != np.bool_ and np.issubdtype(mask.dtype, np.integer) \
            and mask.size and 0 <= mask.min() and mask.max() <= 1:
        mask = mask.astype(bool)  # a 0/1 mask, not a nearly black image
    try:  # a mask file larger than the image is refused from its header, undecoded
        decoded = decode_image(mask, max_pixels=size[0] * size[1])
    except ImageTooLargeError as exc:
        if exc.size is None:
            raise InvalidMaskError(f"the mask cannot be read: {exc}") from exc
        raise wrong_size(exc.size) from exc
    except InvalidImageError as exc:
        raise InvalidMaskError(f"the mask cannot be read: {exc}") from exc
    plane = decoded.alpha if decoded.alpha is not None and decoded.alpha.min() < 1 else decoded.rgb.mean(axis=2)
    if decoded.size != size:
        raise wrong_size(decoded.size)
    return plane >= 0.5


def inpaint(
    model: RestorationModel,
    image: ImageLike | DecodedImage,
    mask: ImageLike | np.ndarray,
    options: RestoreOptions = RestoreOptions(),
    *,
    callback: Callable[[ProgressEvent], None] | None = None,
    max_pixels: int | None = None,
) -> RestoreResult:
    """Fill the pixels where ``mask`` is set (1 / white / opaque = missing).

    As the official pipeline: missing pixels are set to -1 in the model's input, the mask is given in
    {-1, 1}, and known pixels are pasted back, so they are returned bit-exact.
    """
    _check_task(model, "inpaint")
    started = time.perf_counter()
    img = image if isinstance(image, DecodedImage) else decode_image(image, max_pixels=max_pixels)
    missing = decode_mask(mask, img.size)
    if not missing.any():
        raise InvalidMaskError("the mask is empty: mark the pixels to repaint first")
    y = to_model_input(img.rgb)
    m = torch.from_numpy(missing)[None, None].float()
    y_masked = torch.where(m > 0, torch.full_like(y, -1.0), y)
    out, schedule, seed, tiles = run_model(model, y_masked, options, mask=m * 2 - 1, callback=callback)
    out = _finish(model, out, y, options)
    restored = from_model_output(out)
    known = np.round(np.clip(img.rgb, 0, 1) * 255).astype(np.uint8)
    result = np.where(missing[..., None], restored, known)
    return _result(model, attach_alpha(result, img.alpha), schedule, seed, tiles, started,
                   masked_fraction=round(float(missing.mean()), 4))


def restore_face(
    model: RestorationModel,
    image: ImageLike | DecodedImage,
    options: RestoreOptions = RestoreOptions(),
    *,
    callback: Callable[[ProgressEvent], None] | None = None,
    max_pixels: int | None = None,
) -> RestoreResult:
    """Blind restoration of an aligned face. Non-512 inputs are resized to 512x512 (bicubic), restored
    and resized back; non-square inputs are refused (use the whole-photo pipeline for those)."""
    _check_task(model, "face")
    started = time.perf_counter()
    img = image if isinstance(image, DecodedImage) else decode_image(image, max_pixels=max_pixels)
    w, h = img.size
    if abs(w - h) > max(2, 0.02 * max(w, h)):
        raise InvalidImageError(
            f"an aligned face must be square (512x512); this image is {w}x{h}. "
            "Use whole-photo mode to detect and align faces first.")
    y = to_model_input(img.rgb)
    if (h, w) != (FACE_SIZE, FACE_SIZE):
        y = F.interpolate(y, size=(FACE_SIZE, FACE_SIZE), mode="bicubic", align_corners=False).clamp(-1, 1)
    out, schedule, seed, tiles = run_model(model, y, _whole(options), callback=callback)
    out = _finish(model, out, y, options)
    if (h, w) != (FACE_SIZE, FACE_SIZE):
        out = F.interpolate(out, size=(h, w), mode="bicubic", align_corners=False)
    return _result(model, attach_alpha(from_model_output(out), img.alpha), schedule, seed, tiles, started)


def restore_face_batch(model: RestorationModel, faces: np.ndarray, options: RestoreOptions = RestoreOptions(),
                       *, callback: Callable[[ProgressEvent], None] | None = None,
                       batch_size: int = 8) -> np.ndarray:
    """Restore N aligned faces: (N, 512, 512, 3) uint8 -> (N, 512, 512, 3) uint8, ``batch_size`` at a time.

    One seed (options.seed, or a fresh one) makes the whole call reproducible.
    """
    _check_task(model, "face")
    if faces.ndim != 4 or faces.shape[1:] != (FACE_SIZE, FACE_SIZE, 3) or faces.dtype != np.uint8:
        raise ValueError(f"faces must be (N, 512, 512, 3) uint8, got {faces.shape} {faces.dtype}")
    if len(faces) == 0:
        return faces.copy()
    seed = options.seed
    outs = []
    for start in range(0, len(faces), batch_size):
        chunk = faces[start:start + batch_size]
        y = torch.from_numpy(chunk).permute(0, 3, 1, 2).contiguous().float() / 127.5 - 1
        opts = _whole(replace(options, seed=None if seed is None else seed + start))
        out, _, _, _ = run_model(model, y, opts, callback=callback)
        out = _finish(model, out, y, options)
        outs.append(((out.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())
    return np.concatenate(outs)
