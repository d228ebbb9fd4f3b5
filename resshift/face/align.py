"""Aligning a face to the FFHQ 512x512 crop, and resampling helpers shared with the paste-back.

Landmark order used everywhere in :mod:`resshift.face` (image coordinates, x to the right, y down,
pixel centres at integer coordinates, as in OpenCV):

    0: eye on the left of the image (the person's right eye)
    1: eye on the right of the image (the person's left eye)
    2: nose tip
    3: mouth corner on the left of the image
    4: mouth corner on the right of the image

``FFHQ_TEMPLATE_512`` gives these five points in an FFHQ-aligned 512x512 face. The numbers are the
five-point template that facexlib 0.3.0 (``facexlib/utils/face_restoration_helper.py``,
``FaceRestoreHelper``, the alignment GFPGAN and CodeFormer use for 512 crops) places landmarks on;
we read them from the installed package. The similarity transform is a least-squares fit to all
five points (the same solution as skimage's ``SimilarityTransform.estimate``, which facexlib
approximates with ``cv2.estimateAffinePartial2D(..., method=cv2.LMEDS)``), so it is deterministic.

Border: the crop is filled with ``cv2.BORDER_REFLECT_101`` where it reaches past the photo. The
FFHQ crops the face models were trained on were padded by reflection too, so the restorer sees a
plausible continuation instead of a flat or black band; those padded parts fall outside the photo
again when the face is pasted back, so they never appear in the output.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..media.image import InvalidImageError

CROP_SIZE = 512
"""Side of an aligned face crop, in pixels."""
ALIGNED_TOLERANCE = 0.02
"""An aligned face may be this much off square (of its longer side, at least 2 pixels): crops saved
by other tools are sometimes a pixel or two short."""


def is_aligned_size(width: int, height: int) -> bool:
    """The one rule for "this image can be an aligned face crop": square within
    :data:`ALIGNED_TOLERANCE`. It does not look at the content (a square group photo passes)."""
    return width > 0 and height > 0 and abs(width - height) <= max(2, ALIGNED_TOLERANCE * max(width, height))


def check_aligned_size(width: int, height: int) -> None:
    """Refuse an image that cannot be an aligned face (InvalidImageError, a sentence)."""
    if not is_aligned_size(width, height):
        raise InvalidImageError(
            f"an aligned face must be square (512x512); this image is {width}x{height}. "
            "Use whole-photo mode to detect and align faces first.")

FFHQ_TEMPLATE_512 = np.array(
    [[192.98138, 239.94708], [318.90277, 240.1936], [256.63416, 314.01935],
     [201.26117, 371.41043], [313.08905, 371.15118]],
    dtype=np.float64,
)
"""(5, 2) x, y of the five landmarks in a 512x512 FFHQ-aligned face (order: see module doc)."""


def estimate_alignment(landmarks: np.ndarray, template: np.ndarray = FFHQ_TEMPLATE_512) -> np.ndarray:
    """Least-squares similarity transform (rotation, uniform scale, shift; no reflection).

    landmarks: (5, 2) points in the photo; template: (5, 2) the same points in the crop.
    Returns the (2, 3) float64 affine matrix mapping photo coordinates to crop coordinates.
    """
    src = np.asarray(landmarks, dtype=np.float64)
    dst = np.asarray(template, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"landmarks must be (N, 2) like the template {dst.shape}, got {src.shape}")
    if not np.isfinite(src).all():
        raise ValueError("landmarks contain NaN or infinite values")
    if np.abs(src - src.mean(axis=0)).max() < 1e-6:
        raise ValueError("landmarks are degenerate (all points coincide)")
    # Unknowns (a, b, tx, ty) of [[a, -b, tx], [b, a, ty]]; two equations per point.
    n = len(src)
    rows = np.zeros((2 * n, 4))
    rows[0::2] = np.stack([src[:, 0], -src[:, 1], np.ones(n), np.zeros(n)], axis=1)
    rows[1::2] = np.stack([src[:, 1], src[:, 0], np.zeros(n), np.ones(n)], axis=1)
    (a, b, tx, ty), *_ = np.linalg.lstsq(rows, dst.reshape(-1), rcond=None)
    return np.array([[a, -b, tx], [b, a, ty]])


def affine_scale(matrix: np.ndarray) -> float:
    """Linear scale factor of a (2, 3) similarity/affine matrix (sqrt of |det|)."""
    return float(np.sqrt(abs(np.linalg.det(np.asarray(matrix, dtype=np.float64)[:, :2]))))


def compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """(2, 3) matrix of ``outer(inner(p))``."""
    a = np.vstack([np.asarray(outer, dtype=np.float64), [0, 0, 1]])
    b = np.vstack([np.asarray(inner, dtype=np.float64), [0, 0, 1]])
    return (a @ b)[:2]


def resize_matrix(sx: float, sy: float) -> np.ndarray:
    """(2, 3) map from a picture to the same picture resized by (sx, sy) with ``cv2.resize``.

    With pixel centres at integer coordinates, ``cv2.resize`` puts source x at ``sx * x + (sx-1)/2``.
    """
    return np.array([[sx, 0.0, 0.5 * (sx - 1)], [0.0, sy, 0.5 * (sy - 1)]])


def warp(src: np.ndarray, matrix: np.ndarray, size: tuple[int, int], *,
         border: int = cv2.BORDER_REFLECT_101, flags: int = cv2.INTER_CUBIC) -> np.ndarray:
    """``cv2.warpAffine`` that does not alias when it shrinks.

    src: (H, W[, C]) image; matrix: (2, 3) map from ``src`` to the output; size: (width, height).
    When the map shrinks by more than 1.25x, ``src`` is first reduced with area averaging and the
    matrix adjusted, so fine texture turns into blur instead of moire.
    """
    scale = affine_scale(matrix)
    if scale < 0.8:
        h, w = src.shape[:2]
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        src = cv2.resize(src, (nw, nh), interpolation=cv2.INTER_AREA)
        matrix = compose(matrix, np.linalg.inv(np.vstack([resize_matrix(nw / w, nh / h), [0, 0, 1]]))[:2])
    return cv2.warpAffine(src, matrix, size, flags=flags, borderMode=border)


def align_face(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cut the FFHQ-aligned 512x512 crop of one face.

    image: (H, W, 3) uint8 RGB; landmarks: (5, 2) in the order of the module doc.
    Returns (crop (512, 512, 3) uint8 RGB, affine (2, 3) float64 photo -> crop).
    """
    affine = estimate_alignment(landmarks)
    crop = warp(image, affine, (CROP_SIZE, CROP_SIZE), border=cv2.BORDER_REFLECT_101)
    return crop, affine
