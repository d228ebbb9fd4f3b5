"""Whole-photo face restoration with any face restorer: detect, align, restore, paste back.

Glue between the model-agnostic face toolkit (:func:`resshift.face.restore_photo`) and the task
pipelines: a ResShift face model (:func:`resshift_faces`, what ``restore_face(photo=...)`` runs) or
a comparison restorer such as GFPGAN give the same :class:`~resshift.result.RestoreResult`.
"""
from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
from PIL import Image

from ..face import check_aligned_size, restore_aligned, restore_photo
from ..errors import InvalidRequest
from ..image_io import DecodedImage, ImageLike, attach_alpha, decode_image, to_uint8
from ..loader import RestorationModel
from ..progress import CancelToken, ProgressEvent
from ..result import RestoreResult
from .options import PhotoOptions, RestoreOptions
from .tasks import check_task, restore_face_batch, super_resolve

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
    if photo is None:
        check_aligned_size(*img.size)
        face = restore_aligned(rgb, restore_faces)
        h, w = rgb.shape[:2]
        if face.shape[:2] != (h, w):
            face = np.asarray(Image.fromarray(face).resize((w, h), Image.BICUBIC))
        return RestoreResult(image=attach_alpha(face, img.alpha), model=name, device=device,
                             seconds=time.perf_counter() - started, **(run or {}))
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
        **(run or {}))


def run_facts(model: RestorationModel, options: RestoreOptions) -> dict[str, Any]:
    """A ResShift run's settings for :func:`restore_faces_with`'s result (options resolved)."""
    schedule = model.schedule(options.steps, options.kappa, options.spacing)
    return {"steps": schedule.num_steps, "kappa": schedule.kappa, "seed": options.seed,
            "timesteps": schedule.timesteps}
