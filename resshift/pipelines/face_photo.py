"""Whole-photo face restoration with a ResShift face model: detect, align, restore, paste back.

Glue between the model-agnostic photo pipeline in :mod:`resshift.face` and the task pipelines.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable, Literal

import numpy as np
from PIL import Image

from ..loader import RestorationModel
from .image_io import DecodedImage, ImageLike, attach_alpha, decode_image, to_uint8
from .options import ProgressEvent, RestoreOptions
from .restore import new_seed
from .tasks import restore_face_batch, super_resolve

Background = Literal["resize", "sr"]


@dataclass(frozen=True, eq=False)
class PhotoRestoreResult:
    """image: (H*scale, W*scale, 3|4) uint8; faces: resshift.face.PhotoFace per restored face."""

    image: np.ndarray
    faces: tuple
    message: str
    model: str
    steps: int
    kappa: float
    seed: int
    device: str
    seconds: float
    extra: dict = field(default_factory=dict)

    def facts(self) -> dict:
        h, w = self.image.shape[:2]
        return {"model": self.model, "steps": self.steps, "kappa": self.kappa, "seed": self.seed,
                "device": self.device, "seconds": round(self.seconds, 3), "faces": len(self.faces),
                "size": f"{w}x{h}", "message": self.message, **self.extra}


def sr_background(sr_model: RestorationModel, options: RestoreOptions) -> Callable[[np.ndarray, int], np.ndarray]:
    """An ``upscale_background`` callable: x4 super-resolution with ``sr_model``, resized to the scale."""
    def upscale(rgb: np.ndarray, scale: int) -> np.ndarray:
        if scale == 1:
            return rgb
        out = super_resolve(sr_model, rgb, options).image[..., :3]
        h, w = rgb.shape[:2]
        if out.shape[:2] != (h * scale, w * scale):
            out = np.asarray(Image.fromarray(out).resize((w * scale, h * scale), Image.LANCZOS))
        return out

    return upscale


def restore_photo_with_model(
    model: RestorationModel,
    image: ImageLike | DecodedImage,
    options: RestoreOptions = RestoreOptions(),
    *,
    scale: int = 1,
    background: Background = "resize",
    sr_model: RestorationModel | None = None,
    select: str = "all",
    min_face_size: int = 32,
    detector=None,
    allow_download: bool | None = None,
    callback: Callable[[ProgressEvent], None] | None = None,
    progress: Callable[[float, str], None] | None = None,
    max_pixels: int | None = None,
) -> PhotoRestoreResult:
    """Restore every face of a photo with ``model`` (a face model) and paste it back.

    background: 'resize' (Lanczos) or 'sr' (``sr_model``, an x4 SR model; resized to the scale).
    detector: default the RetinaFace detector (weights downloaded on first use when
    ``allow_download``; None: unless RESSHIFT_OFFLINE=1), else the bundled offline YuNet. Faces
    are pasted with a face-parsing mask (ParseNet) when its weights are available the same way,
    else with the feathered crop square. With no face found, the background alone
    is returned and ``message`` says so.
    """
    from ..face import default_detector, restore_photo
    from ..face.parsing import default_masker
    from ..face.photo import downloads_allowed_by_env

    if model.spec.task != "face":
        raise ValueError(f"model {model.spec.name!r} is not a face model")
    if background == "sr" and sr_model is None:
        raise ValueError("background='sr' needs an sr_model")
    if background not in ("resize", "sr"):
        raise ValueError("background must be 'resize' or 'sr'")
    started = time.perf_counter()
    img = image if isinstance(image, DecodedImage) else decode_image(image, max_pixels=max_pixels)
    seed = options.seed if options.seed is not None else new_seed()
    options = replace(options, seed=seed)
    rgb = to_uint8(img.rgb)
    result = restore_photo(
        rgb, lambda crops: restore_face_batch(model, crops, options, callback=callback),
        upscale_background=sr_background(sr_model, options) if background == "sr" else None,
        scale=scale, select=select, min_face_size=min_face_size,
        detector=detector if detector is not None else default_detector(allow_download), progress=progress,
        face_masks=default_masker(downloads_allowed_by_env() if allow_download is None else allow_download),
    )
    schedule = model.schedule(options.steps, options.kappa, options.spacing)
    return PhotoRestoreResult(
        image=attach_alpha(result.image, img.alpha), faces=tuple(result.faces), message=result.message,
        model=model.spec.name, steps=schedule.num_steps, kappa=schedule.kappa, seed=seed,
        device=str(model.device), seconds=time.perf_counter() - started,
        extra={"scale": scale, "background": background if background == "resize" else sr_model.spec.name},
    )
