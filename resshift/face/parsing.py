"""Face-parsing paste masks (facexlib's ParseNet), used when its weights are available.

A parsing mask follows the face's own outline (skin, brows, eyes, nose, mouth, ears) instead of
the crop square, so hair, neck and background around a face keep the photo's pixels. The mask is
taken from the restored crop, blurred (two Gaussian passes, as GFPGAN does) and multiplied by the
square feathered mask, so it is still exactly 0 at the crop's edge.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch

from ..media.image import batch_to_model_input
from ..settings import resolve_device
from ..weights import WeightFile, load_into, load_state_dict, resolve_weight
from .align import CROP_SIZE
from .paste import face_mask

logger = logging.getLogger(__name__)

# Pins: the Git LFS pointer of weights/facelib/parsing_parsenet.pth in the Hugging Face Space
# OAOA/DifFace (commit cf1345e, by ResShift's author) states both; many facexlib copies agree.
PARSENET_WEIGHTS = WeightFile(
    filename="parsing_parsenet.pth",
    url="https://github.com/xinntao/facexlib/releases/download/v0.2.2/parsing_parsenet.pth",
    sha256="3d558d8d0e42c20224f13cf5a29c79eba2d59913419f945545d8cf7b72920de2",
    size=85_331_193,
)
# ParseNet's 19 classes; the ones that belong to the pasted face region (CelebAMask-HQ labels):
# 1 skin, 2-3 brows, 4-5 eyes, 6 glasses, 7-8 ears, 9 earring, 10 nose, 11 mouth, 12-13 lips, 15 necklace
FACE_CLASSES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15)

FaceMasks = Callable[[np.ndarray], np.ndarray]
"""(N, 512, 512, 3) uint8 RGB restored crops -> (N, 512, 512) float32 paste masks in [0, 1]."""


def masks_from_labels(labels: np.ndarray) -> np.ndarray:
    """(N, 512, 512) int class maps -> (N, 512, 512) float32 soft paste masks in [0, 1]."""
    out = np.empty(labels.shape, dtype=np.float32)
    square = face_mask(CROP_SIZE)
    for i, lab in enumerate(labels):
        mask = np.isin(lab, FACE_CLASSES).astype(np.float32)
        mask = cv2.GaussianBlur(mask, (101, 101), 11)
        mask = cv2.GaussianBlur(mask, (101, 101), 11)
        out[i] = np.clip(mask, 0, 1) * square
    return out


def parsing_masker(weights_path: str | Path | None = None, *, device: str | torch.device | None = None,
                   allow_download: bool = True, weights_dir: str | Path | None = None) -> FaceMasks:
    """Load ParseNet and return ``masks(crops)`` (see :data:`FaceMasks`). Raises
    :class:`~resshift.weights.WeightsUnavailable` when the weights cannot be had,
    :class:`~resshift.weights.UnsafeWeightsError` / :class:`~resshift.weights.WeightsLoadError`
    (naming the file) when they are not a safe, readable ParseNet checkpoint."""
    path = resolve_weight(PARSENET_WEIGHTS, path=weights_path, weights_dir=weights_dir,
                          allow_download=allow_download)
    from facexlib.parsing.parsenet import ParseNet

    net = ParseNet(in_size=CROP_SIZE, out_size=CROP_SIZE, parsing_ch=19)
    load_into(net, load_state_dict(path), strict_extra=True, name="ParseNet (face parsing)",
              source=path)
    device = resolve_device(device)
    net = net.eval().to(device)
    lock = threading.Lock()

    def masks(crops: np.ndarray) -> np.ndarray:
        if crops.ndim != 4 or crops.shape[1:] != (CROP_SIZE, CROP_SIZE, 3) or crops.dtype != np.uint8:
            raise ValueError(f"parsing takes (N, 512, 512, 3) uint8 crops, got {crops.shape} {crops.dtype}")
        x = batch_to_model_input(crops, device)
        with lock, torch.no_grad():
            labels = net(x)[0].argmax(dim=1).cpu().numpy()
        return masks_from_labels(labels)

    logger.info("face parsing (ParseNet) loaded from %s", path)
    return masks

