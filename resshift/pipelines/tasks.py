"""Image task pipelines: images in, one :class:`~resshift.pipelines.result.RestoreResult` out (PIL, numpy
or file paths; any size).

- ``super_resolve``: x sf super-resolution (sf = 4 for every released SR model; x2 and x3 are
  its x4 result downscaled)
- ``inpaint``: fill the masked pixels (mask 1 = missing); known pixels are returned exactly

Faces are in ``faces.py``, ``restore`` (any task, by the model's) in ``registry.py``. Each pipeline
checks its request once, at the top (:meth:`RestoreOptions.resolve`, the task of the model, the
image, the mask), and raises :class:`~resshift.errors.InvalidRequest` with a sentence.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch

from ..errors import InvalidRequest
from ..media.image import (DecodedImage, ImageLike, ImageTooLargeError, InvalidImageError, attach_alpha,
                        decode_image, from_model_output, to_model_input, to_uint8)
from ..loader import RestorationModel
from ..models.fill import classical_fill
from ..runtime.progress import CancelToken, ProgressEvent
from .result import RestoreResult
from .options import RestoreOptions, check_task
from .restore import decoded, finish, run_model, to_result


class InvalidMaskError(InvalidRequest):
    """The inpainting mask is empty, of the wrong size or unreadable."""


def super_resolve(
    model: RestorationModel,
    image: ImageLike | DecodedImage,
    options: RestoreOptions = RestoreOptions(),
    *,
    callback: Callable[[ProgressEvent], None] | None = None,
    cancel: CancelToken | None = None,
    max_pixels: int | None = None,
) -> RestoreResult:
    """x sf super-resolution (``options.scale``: x2 or x3 from an x4 model, its result downscaled).
    The input is reflect-padded to the model's size multiple (64 input pixels for the released
    models, as the official inference) and cropped back. The input's colour profile (ICC) goes
    with the result (``RestoreResult.save`` writes it)."""
    check_task(model.spec, "sr")
    options = options.resolve(model.spec)
    started = time.perf_counter()
    img = decoded(image, max_pixels)
    y = to_model_input(img.rgb)
    run = run_model(model, y, options, callback=callback, cancel=cancel)
    out = finish(run.image, y, options)
    return to_result(model, attach_alpha(from_model_output(out), img.alpha), run, started, img=img,
                     scale=options.scale)


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


def hole_filled(hole_fill: str, y: torch.Tensor, image: np.ndarray, missing: np.ndarray) -> torch.Tensor:
    """An inpainting model's y0 (1, 3, H, W) in [-1, 1]: ``y`` (the image, the same as ``image``,
    (H, W, 3) uint8) with its ``missing`` pixels ((H, W) bool) at -1 ('blank') or filled by
    ``cv2.inpaint`` ('telea', 'ns'; :func:`~resshift.models.fill.classical_fill`), as in training."""
    if hole_fill == "blank":
        return torch.where(torch.from_numpy(missing)[None, None], torch.full_like(y, -1.0), y)
    return to_model_input(classical_fill(image, missing, hole_fill).astype(np.float32) / 255.0)


def inpaint(
    model: RestorationModel,
    image: ImageLike | DecodedImage,
    mask: ImageLike | np.ndarray,
    options: RestoreOptions = RestoreOptions(),
    *,
    callback: Callable[[ProgressEvent], None] | None = None,
    cancel: CancelToken | None = None,
    max_pixels: int | None = None,
) -> RestoreResult:
    """Fill the pixels where ``mask`` is set (1 / white / opaque = missing).

    y0, the image the chain starts from and the network is conditioned on, is built by the model's
    spec (``hole_fill``): missing pixels at -1 ('blank', the official models), or filled by OpenCV's
    Telea / Navier-Stokes inpainting from the known pixels, so the chain refines that guess. The mask
    is given in {-1, 1}, and known pixels are pasted back, so they are returned bit-exact.
    """
    check_task(model.spec, "inpaint")
    options = options.resolve(model.spec)
    started = time.perf_counter()
    img = decoded(image, max_pixels)
    missing = decode_mask(mask, img.size)
    if not missing.any():
        raise InvalidMaskError("the mask is empty: mark the pixels to repaint first")
    y = to_model_input(img.rgb)
    known = to_uint8(img.rgb)
    m = torch.from_numpy(missing)[None, None].float()
    run = run_model(model, hole_filled(model.spec.hole_fill, y, known, missing), options, mask=m * 2 - 1,
                    callback=callback, cancel=cancel)
    out = finish(run.image, y, options)
    result = np.where(missing[..., None], from_model_output(out), known)
    return to_result(model, attach_alpha(result, img.alpha), run, started, img=img,
                     masked_fraction=round(float(missing.mean()), 4))


