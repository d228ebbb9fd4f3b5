"""Pasting restored 512x512 faces back into the (upscaled) photo.

Each face is warped back with the inverse of its alignment, taken to the output scale, and blended
in float with a feathered mask: the 512x512 crop square eroded by ``MASK_MARGIN`` pixels and given
a smooth ramp ``MASK_FEATHER`` pixels wide (what eroding and Gaussian-blurring the square does, but
exactly 0 at the crop's edge). Both widths are in crop pixels, so in the output the feather grows
and shrinks with the face. Only the face's bounding box in the output is touched: every pixel where
the mask is 0 keeps its background value bit for bit. Several faces are composited one after
another, so where two crops overlap the later one is blended over the earlier one.
"""
from __future__ import annotations

import functools

import cv2
import numpy as np

from .align import CROP_SIZE, compose, resize_matrix, warp

MASK_MARGIN = 12
"""Crop pixels along each edge of the 512 square that are never pasted."""
MASK_FEATHER = 40
"""Crop pixels over which the mask ramps from 0 to 1 inside the margin."""


@functools.lru_cache(maxsize=1)
def face_mask(size: int = CROP_SIZE) -> np.ndarray:
    """(size, size) float32 mask in [0, 1]: 0 within the margin, smooth (smoothstep) ramp, then 1."""
    k = size / CROP_SIZE
    i = np.arange(size, dtype=np.float64)
    edge = np.minimum(i, size - 1 - i)
    t = np.clip((edge - MASK_MARGIN * k) / (MASK_FEATHER * k), 0.0, 1.0)
    ramp = t * t * (3 - 2 * t)
    mask = (ramp[:, None] * ramp[None, :]).astype(np.float32)
    mask.setflags(write=False)
    return mask


def output_affine(affine: np.ndarray, scale: int) -> np.ndarray:
    """(2, 3) map from crop coordinates to output coordinates, for a photo upscaled by ``scale``.

    affine: (2, 3) photo -> crop. The output pixel grid is the photo's resized by ``cv2.resize``.
    """
    inverse = cv2.invertAffineTransform(np.asarray(affine, dtype=np.float64))
    return compose(resize_matrix(scale, scale), inverse)


def paste_face(canvas: np.ndarray, face: np.ndarray, affine: np.ndarray, scale: int,
               mask: np.ndarray | None = None) -> None:
    """Blend one restored face into ``canvas`` in place.

    canvas: (H*scale, W*scale, 3) uint8 RGB, the upscaled photo; face: (512, 512, 3) uint8 RGB, the
    restored crop; affine: (2, 3) photo -> crop matrix of that face; scale: output / photo size;
    mask: (512, 512) float paste mask in [0, 1] in crop pixels (default: the feathered square; a
    face-parsing mask from :mod:`.parsing` follows the face's outline).
    """
    if face.shape != (CROP_SIZE, CROP_SIZE, 3) or face.dtype != np.uint8:
        raise ValueError(f"a restored face must be ({CROP_SIZE}, {CROP_SIZE}, 3) uint8, "
                         f"got {face.shape} {face.dtype}")
    to_out = output_affine(affine, scale)
    corners = np.array([[0, 0, 1], [CROP_SIZE - 1, 0, 1], [0, CROP_SIZE - 1, 1],
                        [CROP_SIZE - 1, CROP_SIZE - 1, 1]], dtype=np.float64) @ to_out.T
    out_h, out_w = canvas.shape[:2]
    x0 = max(int(np.floor(corners[:, 0].min())) - 2, 0)
    y0 = max(int(np.floor(corners[:, 1].min())) - 2, 0)
    x1 = min(int(np.ceil(corners[:, 0].max())) + 3, out_w)
    y1 = min(int(np.ceil(corners[:, 1].max())) + 3, out_h)
    if x1 <= x0 or y1 <= y0:
        return  # the crop lies entirely outside the output
    to_roi = to_out.copy()
    to_roi[:, 2] -= (x0, y0)
    size = (x1 - x0, y1 - y0)
    pasted = warp(face, to_roi, size, border=cv2.BORDER_REPLICATE).astype(np.float32)
    crop_mask = face_mask() if mask is None else np.asarray(mask, dtype=np.float32)
    if crop_mask.shape != (CROP_SIZE, CROP_SIZE):
        raise ValueError(f"a paste mask must be ({CROP_SIZE}, {CROP_SIZE}), got {crop_mask.shape}")
    mask = warp(crop_mask, to_roi, size, border=cv2.BORDER_CONSTANT, flags=cv2.INTER_LINEAR)
    mask = np.clip(mask, 0.0, 1.0)[..., None]
    roi = canvas[y0:y1, x0:x1]
    blended = roi.astype(np.float32) * (1.0 - mask) + pasted * mask
    roi[...] = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
