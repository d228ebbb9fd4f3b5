"""Alignment to the FFHQ 512x512 template: the similarity fit, the crop, the border, anti-aliasing."""
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from resshift.face import CROP_SIZE, FFHQ_TEMPLATE_512, YuNetDetector, align_face, estimate_alignment
from resshift.face.align import affine_scale, warp

DATA = Path(__file__).parent / "data" / "faces"


def _similarity(angle_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    return np.array([[scale * np.cos(a), -scale * np.sin(a), tx], [scale * np.sin(a), scale * np.cos(a), ty]])


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.c_[points, np.ones(len(points))] @ matrix.T


def test_template_is_the_ffhq_five_point_layout():
    t = FFHQ_TEMPLATE_512
    assert t.shape == (5, 2)
    assert t[0, 0] < t[2, 0] < t[1, 0]  # left-of-image eye, nose, right-of-image eye
    assert t[3, 0] < t[4, 0]  # mouth corners, left of image first
    assert t[0, 1] < t[2, 1] < t[3, 1]  # eyes above nose above mouth
    assert abs((t[0, 0] + t[1, 0]) / 2 - 256) < 2  # centred horizontally


@pytest.mark.parametrize("angle, scale", [(0, 1.0), (17, 0.3), (-40, 2.5)])
def test_estimate_alignment_recovers_an_exact_similarity(angle, scale):
    photo_to_crop = _similarity(angle, scale, 31.0, -12.5)
    landmarks = _apply(cv2.invertAffineTransform(photo_to_crop), FFHQ_TEMPLATE_512)
    estimated = estimate_alignment(landmarks)
    np.testing.assert_allclose(estimated, photo_to_crop, atol=1e-8)
    assert affine_scale(estimated) == pytest.approx(scale)


def test_estimate_alignment_is_least_squares_over_all_points():
    rng = np.random.default_rng(0)
    landmarks = FFHQ_TEMPLATE_512 / 3 + rng.normal(0, 2.0, (5, 2))
    m = estimate_alignment(landmarks)
    residual = np.sum((_apply(m, landmarks) - FFHQ_TEMPLATE_512) ** 2)
    # Any nearby similarity fits worse (the fit is the minimum).
    for d in ([1e-3, 0, 0, 0], [0, 1e-3, 0, 0], [0, 0, 0.5, 0], [0, 0, 0, 0.5]):
        a, b, tx, ty = m[0, 0] + d[0], m[1, 0] + d[1], m[0, 2] + d[2], m[1, 2] + d[3]
        other = np.array([[a, -b, tx], [b, a, ty]])
        assert np.sum((_apply(other, landmarks) - FFHQ_TEMPLATE_512) ** 2) > residual


def test_estimate_alignment_rejects_bad_landmarks():
    with pytest.raises(ValueError, match="landmarks must be"):
        estimate_alignment(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="NaN"):
        estimate_alignment(np.full((5, 2), np.nan))
    with pytest.raises(ValueError, match="degenerate"):
        estimate_alignment(np.ones((5, 2)))


def test_aligned_portrait_puts_the_eyes_on_the_template():
    image = np.asarray(Image.open(DATA / "portrait_deepface_img12.jpg").convert("RGB"))
    detector = YuNetDetector()
    (face,) = detector(image)
    crop, affine = align_face(image, face.landmarks)
    assert crop.shape == (CROP_SIZE, CROP_SIZE, 3) and crop.dtype == np.uint8
    moved = _apply(affine, face.landmarks.astype(np.float64))
    assert np.abs(moved - FFHQ_TEMPLATE_512).max() < 8  # the fit itself
    redetected = detector(crop)  # an independent check on the pixels of the crop
    assert len(redetected) == 1
    eye_error = np.linalg.norm(redetected[0].landmarks[:2] - FFHQ_TEMPLATE_512[:2], axis=1)
    assert eye_error.max() < 16, eye_error


def test_crop_past_the_photo_edge_is_reflected_not_black():
    # A bright photo with a small "face" at its corner: the crop reaches far past the edge.
    ramp = np.linspace(100, 220, 160)
    image = np.broadcast_to(ramp[None, :, None] + np.linspace(0, 30, 120)[:, None, None],
                            (120, 160, 3)).astype(np.uint8)
    landmarks = FFHQ_TEMPLATE_512 / 10 - 20  # the crop covers photo x, y in [-20, 31]
    crop, _ = align_face(image, landmarks)
    assert crop.min() >= 99  # BORDER_CONSTANT would leave 0 over 61% of the crop


def test_warp_does_not_alias_when_shrinking():
    checker = (np.indices((512, 512)).sum(axis=0) % 2 * 255).astype(np.uint8)
    shrink = np.array([[0.25, 0.0, 0.0], [0.0, 0.25, 0.0]])
    small = warp(checker, shrink, (128, 128), border=cv2.BORDER_REFLECT_101)
    # Area averaging turns the 1-pixel checkerboard into flat grey; point sampling would give 0/255.
    assert abs(float(small.mean()) - 127.5) < 2 and float(small.std()) < 3
