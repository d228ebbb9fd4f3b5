"""Task pipelines: images in, one :class:`~resshift.result.RestoreResult` out (PIL, numpy or file
paths; any size).

- ``super_resolve``: x sf super-resolution (sf = 4 for every released SR model)
- ``inpaint``: fill the masked pixels (mask 1 = missing); known pixels are returned exactly
- ``restore_face``: blind restoration of an aligned 512x512 face, or of every face of a whole
  photo (``photo=PhotoOptions(...)``, see ``face_photo.py``)
- ``restore``: any of them, by the model's task

Each checks its request once, at the top (:meth:`RestoreOptions.resolve`, the task of the model,
the image, the mask), and raises :class:`~resshift.errors.InvalidRequest` with a sentence.
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InvalidRequest
from ..face.align import check_aligned_size
from ..image_io import (DecodedImage, ImageLike, ImageTooLargeError, InvalidImageError, attach_alpha,
                        decode_image, from_model_output, to_model_input, to_uint8)
from ..loader import RestorationModel
from ..progress import CancelToken, ProgressEvent
from ..result import RestoreResult
from ..weights.registry import TASK_TITLES, ModelSpec
from .color import color_fix
from .options import SEED_LIMIT, PhotoOptions, RestoreOptions
from .restore import Sampled, run_model

FACE_SIZE = 512


class InvalidMaskError(InvalidRequest):
    """The inpainting mask is empty, of the wrong size or unreadable."""


def check_task(spec: ModelSpec, task: str) -> None:
    """Refuse a model of another task (InvalidRequest naming both)."""
    if spec.task != task:
        wanted = TASK_TITLES[task]
        raise InvalidRequest(f"the model {spec.name} is a {TASK_TITLES[spec.task]} model; choose "
                             f"{'an' if wanted[0] in 'aeiou' else 'a'} {wanted} model")


def _decoded(image: ImageLike | DecodedImage, max_pixels: int | None) -> DecodedImage:
    return image if isinstance(image, DecodedImage) else decode_image(image, max_pixels=max_pixels)


def _whole(options: RestoreOptions) -> RestoreOptions:
    """Faces are restored whole (one 512x512 tile) unless a tile size is asked for explicitly."""
    return options if options.tile is not None else replace(options, tile=0)


def _finish(out: torch.Tensor, y: torch.Tensor, options: RestoreOptions) -> torch.Tensor:
    """The colour fix when asked for; a greyscale input (R = G = B everywhere) gives a greyscale
    result (the networks work in colour and would otherwise add faint colour noise to it)."""
    if options.color_fix != "none":
        out = color_fix(out, y.to(out.device), options.color_fix)
    grey = ((y[:, 0] == y[:, 1]) & (y[:, 1] == y[:, 2])).flatten(1).all(dim=1).to(out.device)  # per image
    if grey.any():
        out = torch.where(grey[:, None, None, None], out.mean(dim=1, keepdim=True).expand_as(out), out)
    return out


def _result(model: RestorationModel, image: np.ndarray, run: Sampled, started: float, **extra) -> RestoreResult:
    schedule = run.schedule
    return RestoreResult(image=image, model=model.spec.name, device=str(model.device),
                         seconds=time.perf_counter() - started, steps=schedule.num_steps,
                         kappa=schedule.kappa, seed=run.seed, timesteps=schedule.timesteps, tiles=run.tiles,
                         extra=extra)


def super_resolve(
    model: RestorationModel,
    image: ImageLike | DecodedImage,
    options: RestoreOptions = RestoreOptions(),
    *,
    callback: Callable[[ProgressEvent], None] | None = None,
    cancel: CancelToken | None = None,
    max_pixels: int | None = None,
) -> RestoreResult:
    """x sf super-resolution. The input is reflect-padded to the model's size multiple (64 input
    pixels for the released models, as the official inference) and cropped back."""
    check_task(model.spec, "sr")
    options = options.resolve(model.spec)
    started = time.perf_counter()
    img = _decoded(image, max_pixels)
    y = to_model_input(img.rgb)
    run = run_model(model, y, options, callback=callback, cancel=cancel)
    out = _finish(run.image, y, options)
    return _result(model, attach_alpha(from_model_output(out), img.alpha), run, started)


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
    cancel: CancelToken | None = None,
    max_pixels: int | None = None,
) -> RestoreResult:
    """Fill the pixels where ``mask`` is set (1 / white / opaque = missing).

    As the official pipeline: missing pixels are set to -1 in the model's input, the mask is given in
    {-1, 1}, and known pixels are pasted back, so they are returned bit-exact.
    """
    check_task(model.spec, "inpaint")
    options = options.resolve(model.spec)
    started = time.perf_counter()
    img = _decoded(image, max_pixels)
    missing = decode_mask(mask, img.size)
    if not missing.any():
        raise InvalidMaskError("the mask is empty: mark the pixels to repaint first")
    y = to_model_input(img.rgb)
    m = torch.from_numpy(missing)[None, None].float()
    y_masked = torch.where(m > 0, torch.full_like(y, -1.0), y)
    run = run_model(model, y_masked, options, mask=m * 2 - 1, callback=callback, cancel=cancel)
    out = _finish(run.image, y, options)
    result = np.where(missing[..., None], from_model_output(out), to_uint8(img.rgb))
    return _result(model, attach_alpha(result, img.alpha), run, started,
                   masked_fraction=round(float(missing.mean()), 4))


def restore_face(
    model: RestorationModel,
    image: ImageLike | DecodedImage,
    options: RestoreOptions = RestoreOptions(),
    *,
    photo: PhotoOptions | None = None,
    sr_model: RestorationModel | None = None,
    helpers=None,
    callback: Callable[[ProgressEvent], None] | None = None,
    cancel: CancelToken | None = None,
    max_pixels: int | None = None,
) -> RestoreResult:
    """Blind face restoration.

    photo None: ``image`` is an aligned face; non-512 inputs are resized to 512x512 (bicubic),
    restored and resized back; an input that is not square (within 2 %) is refused (use
    ``photo``). photo: ``image`` is a whole photo: every face is found, aligned, restored and pasted
    back (``face_photo.restore_faces_with``; sr_model: the x4 SR model of
    ``PhotoOptions(background='sr')``; helpers: who owns the face detector and parser, e.g. the
    studio's ModelManager, default the process's manager for the model's device).
    """
    check_task(model.spec, "face")
    options = options.resolve(model.spec)
    if photo is not None:
        from .face_photo import resshift_faces, restore_faces_with, run_facts

        return restore_faces_with(resshift_faces(model, options, cancel), model.spec.name, image, photo,
                                  run=run_facts(model, options), sr_model=sr_model, helpers=helpers,
                                  device=str(model.device), callback=callback, cancel=cancel,
                                  max_pixels=max_pixels)
    started = time.perf_counter()
    img = _decoded(image, max_pixels)
    w, h = img.size
    check_aligned_size(w, h)
    y = to_model_input(img.rgb)
    if (h, w) != (FACE_SIZE, FACE_SIZE):
        y = F.interpolate(y, size=(FACE_SIZE, FACE_SIZE), mode="bicubic", align_corners=False).clamp(-1, 1)
    run = run_model(model, y, _whole(options), callback=callback, cancel=cancel)
    out = _finish(run.image, y, options)
    if (h, w) != (FACE_SIZE, FACE_SIZE):
        out = F.interpolate(out, size=(h, w), mode="bicubic", align_corners=False)
    return _result(model, attach_alpha(from_model_output(out), img.alpha), run, started)


def restore_face_batch(model: RestorationModel, faces: np.ndarray, options: RestoreOptions = RestoreOptions(),
                       *, callback: Callable[[ProgressEvent], None] | None = None,
                       cancel: CancelToken | None = None, batch_size: int = 8) -> np.ndarray:
    """Restore N aligned faces: (N, 512, 512, 3) uint8 -> (N, 512, 512, 3) uint8, ``batch_size`` at a time.

    One seed (options.seed, or a fresh one) makes the whole call reproducible.
    """
    check_task(model.spec, "face")
    if faces.ndim != 4 or faces.shape[1:] != (FACE_SIZE, FACE_SIZE, 3) or faces.dtype != np.uint8:
        raise InvalidRequest(f"faces must be (N, 512, 512, 3) uint8, got {faces.shape} {faces.dtype}")
    if len(faces) == 0:
        return faces.copy()
    options = options.resolve(model.spec)
    outs = []
    for start in range(0, len(faces), batch_size):
        chunk = faces[start:start + batch_size]
        y = torch.from_numpy(chunk).permute(0, 3, 1, 2).contiguous().float() / 127.5 - 1
        seed = (options.seed + start) % SEED_LIMIT
        run = run_model(model, y, _whole(replace(options, seed=seed)), callback=callback, cancel=cancel)
        out = _finish(run.image, y, options)
        outs.append(((out.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy())
    return np.concatenate(outs)


def restore(model: RestorationModel, image: ImageLike | DecodedImage, options: RestoreOptions = RestoreOptions(),
            *, mask: ImageLike | np.ndarray | None = None, photo: PhotoOptions | None = None,
            **kwargs) -> RestoreResult:
    """Run the pipeline of the model's task: ``super_resolve``, ``inpaint`` (needs ``mask``) or
    ``restore_face`` (``photo``: a whole photo). kwargs: the pipeline's keyword arguments."""
    task = model.spec.task
    if mask is not None and task != "inpaint":
        raise InvalidRequest(f"a mask is for inpainting; the model {model.spec.name} is a "
                             f"{TASK_TITLES[task]} model")
    if photo is not None and task != "face":
        raise InvalidRequest(f"whole-photo settings are for face restoration; the model {model.spec.name} "
                             f"is a {TASK_TITLES[task]} model")
    if task == "sr":
        return super_resolve(model, image, options, **kwargs)
    if task == "inpaint":
        if mask is None:
            raise InvalidMaskError("inpainting needs a mask: white (or 1) marks the pixels to repaint")
        return inpaint(model, image, mask, options, **kwargs)
    return restore_face(model, image, options, photo=photo, **kwargs)
