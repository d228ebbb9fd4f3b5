"""Face restoration: an aligned 512x512 face, or every face of a whole photo (detect, align,
restore, paste back), by a ResShift face model (``restore_face``) or any other face restorer
(``restore_faces_with``, e.g. GFPGAN for the studio's comparison); every path gives the same
:class:`~resshift.pipelines.result.RestoreResult`.

Glue between the model-agnostic face toolkit (:mod:`resshift.face`: detection, alignment,
paste-back) and the restoration path shared with the other tasks (``restore.py``).
"""
from __future__ import annotations

import time
from dataclasses import replace
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ..errors import InvalidRequest
from ..face import check_aligned_size, restore_aligned, restore_photo
from ..media.image import (DecodedImage, ImageLike, attach_alpha, batch_from_model_output, batch_to_model_input,
                        decode_image, from_model_output, to_model_input, to_uint8)
from ..loader import RestorationModel
from ..runtime.progress import CancelToken, ProgressEvent
from .result import RestoreResult
from .options import SEED_LIMIT, PhotoOptions, RestoreOptions, check_task
from .restore import decoded, finish, input_facts, run_model, to_result, whole
from .tasks import super_resolve

FACE_SIZE = 512

StepCallback = Callable[[ProgressEvent], None] | None
FaceRestorer = Callable[[np.ndarray, StepCallback], np.ndarray]
"""restore(crops, callback): (N, 512, 512, 3) uint8 aligned crops -> the same, restored; callback
(may be None) receives the restorer's own progress events (sampling steps)."""


def resshift_faces(model: RestorationModel, options: RestoreOptions, cancel: CancelToken | None = None
                   ) -> FaceRestorer:
    """A ResShift face model as a :data:`FaceRestorer` (one seed for the photo: ``options.seed``)."""
    return lambda crops, callback: restore_face_batch(model, crops, options, callback=callback, cancel=cancel)


def plain_faces(restore_faces: Callable[[np.ndarray], np.ndarray]) -> FaceRestorer:
    """A ``crops -> crops`` restorer without progress of its own (e.g. GFPGAN) as a FaceRestorer."""
    return lambda crops, callback: restore_faces(crops)


def sr_background(sr_model: RestorationModel, seed: int | None,
                  cancel: CancelToken | None = None) -> Callable[[np.ndarray, int], np.ndarray]:
    """An ``upscale_background`` callable: x4 super-resolution with ``sr_model`` at its own default
    settings and ``seed``, resized to the scale."""
    check_task(sr_model.spec, "sr")

    def upscale(rgb: np.ndarray, scale: int) -> np.ndarray:
        if scale == 1:
            return rgb
        out = super_resolve(sr_model, rgb, RestoreOptions(seed=seed), cancel=cancel).image[..., :3]
        h, w = rgb.shape[:2]
        if out.shape[:2] != (h * scale, w * scale):
            out = np.asarray(Image.fromarray(out).resize((w * scale, h * scale), Image.LANCZOS))
        return out

    return upscale


def restore_faces_with(
    restorer: FaceRestorer,
    name: str,
    image: ImageLike | DecodedImage,
    photo: PhotoOptions | None = None,
    *,
    run: dict[str, Any] | None = None,
    sr_model: RestorationModel | None = None,
    helpers=None,
    device: str = "cpu",
    callback: Callable[[ProgressEvent], None] | None = None,
    cancel: CancelToken | None = None,
    max_pixels: int | None = None,
) -> RestoreResult:
    """Restore an aligned face (photo None) or every face of a whole photo with ``restorer``.

    name: the restorer's name in the result; run: its diffusion settings for the result (steps,
    kappa, seed, timesteps); sr_model: the x4 SR model of ``PhotoOptions(background='sr')``;
    helpers: owner of the face detector and parser (``face_detector()``, ``face_masker()``), e.g.
    a :class:`~resshift.manager.ModelManager`; default the process's manager for ``device``.
    callback: the photo's stages ('Detecting faces', done 0.0) and the restorer's steps, as
    ProgressEvents; cancel: checked between stages, batches of faces and sampling steps.
    """
    started = time.perf_counter()
    img = image if isinstance(image, DecodedImage) else decode_image(image, max_pixels=max_pixels)
    rgb = to_uint8(img.rgb)
    stage = [0.0, ""]  # the photo pipeline's latest stage: a restorer's step is reported inside it

    def on_stage(fraction: float, message: str) -> None:
        stage[:] = [fraction, message]
        if callback is not None:
            callback(ProgressEvent.stage(fraction, message))

    def on_step(event: ProgressEvent) -> None:
        if callback is not None:
            callback(ProgressEvent.stage(stage[0], f"{stage[1]}: {event.describe()}" if stage[1] else event.describe()))

    restore_faces = lambda crops: restorer(crops, on_step)  # noqa: E731
    if photo is None:  # restore_aligned refuses a size that cannot be an aligned face
        face = restore_aligned(rgb, restore_faces)
        h, w = rgb.shape[:2]
        if face.shape[:2] != (h, w):
            face = np.asarray(Image.fromarray(face).resize((w, h), Image.BICUBIC))
        return RestoreResult(image=attach_alpha(face, img.alpha), model=name, device=device,
                             seconds=time.perf_counter() - started, icc_profile=img.icc_profile,
                             extra=input_facts(img), **(run or {}))
    if photo.background == "sr" and sr_model is None:
        raise InvalidRequest("a super-resolved background needs an SR model (sr_model); or choose background='resize'")
    if helpers is None:
        from ..manager import default_manager

        helpers = default_manager(device)
    seed = (run or {}).get("seed")
    composite = restore_photo(
        rgb, restore_faces, scale=photo.scale, select=photo.select, min_face_size=photo.min_face_size,
        upscale_background=None if photo.background == "resize" else sr_background(sr_model, seed, cancel),
        detector=helpers.face_detector(), face_masks=helpers.face_masker(), progress=on_stage, cancel=cancel)
    return RestoreResult(
        image=attach_alpha(composite.image, img.alpha), model=name, device=device,
        seconds=time.perf_counter() - started, faces=tuple(composite.faces), message=composite.message,
        scale=photo.scale, background="resize" if photo.background == "resize" else sr_model.spec.name,
        icc_profile=img.icc_profile, extra=input_facts(img), **(run or {}))


def run_facts(model: RestorationModel, options: RestoreOptions) -> dict[str, Any]:
    """A ResShift run's settings for :func:`restore_faces_with`'s result (options resolved)."""
    schedule = model.schedule(options.steps, options.kappa, options.spacing)
    return {"steps": schedule.num_steps, "kappa": schedule.kappa, "seed": options.seed,
            "timesteps": schedule.timesteps}


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
    back (:func:`restore_faces_with`; sr_model: the x4 SR model of
    ``PhotoOptions(background='sr')``; helpers: who owns the face detector and parser, e.g. the
    studio's ModelManager, default the process's manager for the model's device).
    """
    check_task(model.spec, "face")
    options = options.resolve(model.spec)
    if photo is not None:
        return restore_faces_with(resshift_faces(model, options, cancel), model.spec.name, image, photo,
                                  run=run_facts(model, options), sr_model=sr_model, helpers=helpers,
                                  device=str(model.device), callback=callback, cancel=cancel,
                                  max_pixels=max_pixels)
    started = time.perf_counter()
    img = decoded(image, max_pixels)
    w, h = img.size
    check_aligned_size(w, h)
    y = to_model_input(img.rgb)
    if (h, w) != (FACE_SIZE, FACE_SIZE):
        y = F.interpolate(y, size=(FACE_SIZE, FACE_SIZE), mode="bicubic", align_corners=False).clamp(-1, 1)
    run = run_model(model, y, whole(options), callback=callback, cancel=cancel)
    out = finish(run.image, y, options)
    if (h, w) != (FACE_SIZE, FACE_SIZE):
        out = F.interpolate(out, size=(h, w), mode="bicubic", align_corners=False)
    return to_result(model, attach_alpha(from_model_output(out), img.alpha), run, started, img=img)


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
    return batch_from_model_output(restore_aligned_tensor(model, batch_to_model_input(faces), options,
                                                          batch_size=batch_size, callback=callback, cancel=cancel))


def restore_aligned_tensor(model: RestorationModel, y: torch.Tensor, options: RestoreOptions, *, batch_size: int,
                           shared_noise: bool = False, callback: Callable[[ProgressEvent], None] | None = None,
                           cancel: CancelToken | None = None) -> torch.Tensor:
    """(N, 3, 512, 512) aligned faces in [-1, 1] -> restored, ``batch_size`` at a time (``options``
    resolved). Each batch is seeded ``options.seed + its first index``, or, with ``shared_noise``
    (a video's steady noise), every face gets the noise of ``options.seed``."""
    outs = []
    for start in range(0, y.shape[0], batch_size):
        chunk = y[start:start + batch_size]
        seed = options.seed if shared_noise else (options.seed + start) % SEED_LIMIT
        run = run_model(model, chunk, whole(replace(options, seed=seed)), callback=callback, cancel=cancel,
                        shared_noise=shared_noise)
        outs.append(finish(run.image, chunk, options))
    return torch.cat(outs)
