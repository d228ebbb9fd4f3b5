"""Whole-photo face restoration: detect, align, restore every face, paste it back.

The pipeline does not know the restoration model. It takes callables:

- ``restore_faces(crops)``: (N, 512, 512, 3) uint8 RGB FFHQ-aligned crops -> the same shape and
  dtype, restored (e.g. ResShift's face model, or :func:`resshift.face.gfpgan.gfpgan_restorer`);
- ``upscale_background(image, scale)``: (H, W, 3) uint8 RGB -> (H*scale, W*scale, 3) uint8, or None
  for a plain Lanczos resize (a copy at scale 1).

Inputs are read with :func:`resshift.media.image.decode_image` (grey, RGBA, 16-bit, float, PIL
images, paths): grey becomes RGB; the alpha plane is not restored, it is resized to the output
(Lanczos) and returned separately in ``PhotoComposite.alpha``.

This is the face toolkit's own pipeline; the task function that runs it with a ResShift model (or
GFPGAN) and returns the library's one result type is :func:`resshift.pipelines.restore_face`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Sequence

import cv2
import numpy as np

from ..media.image import ImageLike, decode_image, to_uint8
from ..runtime.progress import CancelToken, check
from .align import CROP_SIZE, align_face, check_aligned_size, is_aligned_size
from .detect import DetectedFace, FaceDetector, Select, YuNetDetector, select_faces
from .parsing import FaceMasks
from .paste import paste_face

logger = logging.getLogger(__name__)

RestoreFaces = Callable[[np.ndarray], np.ndarray]
"""(N, 512, 512, 3) uint8 RGB aligned crops -> (N, 512, 512, 3) uint8 RGB restored crops."""
UpscaleBackground = Callable[[np.ndarray, int], np.ndarray]
"""((H, W, 3) uint8 RGB, scale) -> (H*scale, W*scale, 3) uint8 RGB."""
Progress = Callable[[float, str], None]
"""progress(fraction in [0, 1], message)."""

SCALES = (1, 2, 4)
NO_FACE_MESSAGE = "No face found: returned the background only."


@dataclass(frozen=True, eq=False)
class PhotoFace:
    """One restored face. box: (4,) x1, y1, x2, y2 and landmarks: (5, 2) in input-photo pixels;
    score: detector confidence; affine: (2, 3) photo -> crop; crop / restored: (512, 512, 3) uint8
    RGB, the aligned input face and what ``restore_faces`` made of it."""

    box: np.ndarray
    landmarks: np.ndarray
    score: float
    affine: np.ndarray
    crop: np.ndarray
    restored: np.ndarray


@dataclass(frozen=True, eq=False)
class PhotoComposite:
    """What :func:`restore_photo` made. image: (H*scale, W*scale, 3) uint8 RGB; faces: the restored
    faces (highest detector score first); message: one human sentence about what was done; alpha:
    (H*scale, W*scale) uint8 when the input had an alpha channel, else None."""

    image: np.ndarray
    faces: tuple[PhotoFace, ...]
    message: str
    alpha: np.ndarray | None = None


def as_rgb_uint8(image: ImageLike) -> tuple[np.ndarray, np.ndarray | None]:
    """Anything :func:`~resshift.media.image.decode_image` reads (grey/RGB/RGBA arrays of
    uint8, uint16 or float in [0, 1], PIL images, paths) -> ((H, W, 3) uint8 RGB, (H, W) uint8 alpha
    or None). uint8 input comes back unchanged."""
    decoded = decode_image(image)
    return to_uint8(decoded.rgb), None if decoded.alpha is None else to_uint8(decoded.alpha)


def looks_aligned(image: np.ndarray) -> bool:
    """True when ``image`` can be an aligned face crop (square within 2 %,
    :func:`~resshift.face.align.is_aligned_size`), resized to 512x512.

    A hint for the caller (e.g. to pre-tick "input is an aligned face"); it does not look at the
    content, so a square group photo also answers True.
    """
    return image.ndim in (2, 3) and is_aligned_size(image.shape[1], image.shape[0])


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize to (width, height): area averaging to shrink, Lanczos to enlarge."""
    if (image.shape[1], image.shape[0]) == size:
        return image.copy()
    shrink = size[0] < image.shape[1]
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LANCZOS4)


def _restore_batch(restore_faces: RestoreFaces, crops: np.ndarray) -> np.ndarray:
    out = np.asarray(restore_faces(crops))
    if out.shape != crops.shape or out.dtype != np.uint8:
        raise ValueError(f"restore_faces must return {crops.shape} uint8 (N, 512, 512, 3) RGB, "
                         f"got {out.shape} {out.dtype}")
    return out


def restore_aligned(image: ImageLike, restore_faces: RestoreFaces) -> np.ndarray:
    """Restore a photo that already is an aligned face: no detection, no paste-back.

    image: a square face (see :func:`as_rgb_uint8`; alpha dropped), resized to 512x512.
    Returns the restored (512, 512, 3) uint8 RGB face.
    """
    rgb, _ = as_rgb_uint8(image)
    check_aligned_size(rgb.shape[1], rgb.shape[0])
    crop = _resize(rgb, (CROP_SIZE, CROP_SIZE))
    return _restore_batch(restore_faces, crop[None])[0]


def _upscale(rgb: np.ndarray, scale: int, upscale_background: UpscaleBackground | None) -> np.ndarray:
    h, w = rgb.shape[:2]
    if upscale_background is None:
        return _resize(rgb, (w * scale, h * scale))
    out = np.asarray(upscale_background(rgb, scale))
    if out.shape != (h * scale, w * scale, 3) or out.dtype != np.uint8:
        raise ValueError(f"upscale_background must return ({h * scale}, {w * scale}, 3) uint8, "
                         f"got {out.shape} {out.dtype}")
    return np.array(out)  # own, writable copy: faces are pasted into it


def _message(n_found: int, chosen: Sequence[DetectedFace], select: str, min_face_size: int) -> str:
    if n_found == 0:
        return NO_FACE_MESSAGE
    if not chosen:
        return (f"Found {n_found} face{'s' * (n_found != 1)}, none at least {min_face_size} px: "
                "returned the background only.")
    if select != "all" and n_found > 1:
        which = "largest" if select == "largest" else "most central"
        return f"Restored the {which} face of {n_found} found."
    skipped = n_found - len(chosen)
    text = f"Restored {len(chosen)} face{'s' * (len(chosen) != 1)}."
    if skipped:
        text += f" Skipped {skipped} smaller than {min_face_size} px."
    return text


def restore_photo(image: ImageLike, restore_faces: RestoreFaces, *,
                  upscale_background: UpscaleBackground | None = None, scale: int = 1,
                  select: Select = "all", min_face_size: int = 32,
                  detector: FaceDetector | None = None, progress: Progress | None = None,
                  batch_size: int = 8, face_masks: FaceMasks | None = None,
                  cancel: CancelToken | None = None) -> PhotoComposite:
    """Restore every face of a photo and paste it into the (upscaled) background.

    image: (H, W[, C]) uint8 grey/RGB/RGBA array, or anything :func:`as_rgb_uint8` reads.
    restore_faces: see module doc; called with at most ``batch_size`` crops at a time.
    scale: 1, 2 or 4; output size = input size x scale.
    select: 'all', 'largest' or 'center' (box centre nearest the photo centre).
    min_face_size: faces whose box's longer side is smaller (input pixels) are left as they are.
    detector: ``image -> list[DetectedFace]``, default the bundled YuNet (offline, CPU); the model
    manager owns RetinaFace (``ModelManager.face_detector``).
    progress: optional ``progress(fraction, message)``.
    face_masks: paste masks from the restored crops (e.g. :func:`~.parsing.parsing_masker`);
    default the feathered crop square.
    cancel: checked before detection and between batches of faces.

    Returns a :class:`PhotoComposite`; a photo with no (selected) face gives the background alone
    and says so in ``message``.
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    report = progress if progress is not None else (lambda fraction, message: None)
    rgb, alpha = as_rgb_uint8(image)
    h, w = rgb.shape[:2]

    check(cancel)
    report(0.0, "Detecting faces")
    found = (detector if detector is not None else YuNetDetector())(rgb)
    chosen = select_faces(found, (h, w), select=select, min_face_size=min_face_size)
    logger.info("%d face(s) detected, %d kept (select=%s, min_face_size=%d)",
                len(found), len(chosen), select, min_face_size)

    crops, affines = [], []
    for face in chosen:
        crop, affine = align_face(rgb, face.landmarks)
        crops.append(crop)
        affines.append(affine)
    restored: list[np.ndarray] = []
    for start in range(0, len(crops), batch_size):
        check(cancel)
        report(0.1 + 0.7 * start / len(crops), f"Restoring faces {start + 1}-"
               f"{min(start + batch_size, len(crops))} of {len(crops)}")
        restored.extend(_restore_batch(restore_faces, np.stack(crops[start:start + batch_size])))

    check(cancel)
    report(0.8, "Upscaling the background" if scale > 1 else "Preparing the background")
    canvas = _upscale(rgb, scale, upscale_background)
    report(0.9, "Pasting faces back")
    masks = face_masks(np.stack(restored)) if face_masks is not None and restored else [None] * len(restored)
    for face, affine, mask in zip(restored, affines, masks):
        paste_face(canvas, face, affine, scale, mask)
    out_alpha = None if alpha is None else _resize(alpha, (w * scale, h * scale))
    report(1.0, "Done")

    faces = tuple(PhotoFace(f.box, f.landmarks, f.score, a, c, r)
                  for f, a, c, r in zip(chosen, affines, crops, restored))
    return PhotoComposite(canvas, faces, _message(len(found), chosen, select, min_face_size), out_alpha)
