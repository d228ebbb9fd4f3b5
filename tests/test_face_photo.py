"""Whole-photo face restoration on real photos.

The ``restore_faces`` callables here are test doubles for the geometry: inverting a crop changes
every face pixel by a lot (so we can see exactly where faces were pasted), and the identity shows
that a face goes back exactly where it came from. The diffusion model is not involved.
"""
from pathlib import Path

import cv2
import numpy as np
import pytest

from resshift.face import (NO_FACE_MESSAGE, YuNetDetector, looks_aligned, restore_aligned,
                           restore_photo)
from resshift.face.paste import output_affine

from tests.helpers import face_photo

DATA = Path(__file__).parent / "data" / "faces"


@pytest.fixture(scope="module")
def detector() -> YuNetDetector:
    return YuNetDetector()


@pytest.fixture(scope="module")
def group() -> np.ndarray:
    return face_photo("group6_group_18.jpg")  # 800x530, 6 faces


@pytest.fixture(scope="module")
def portrait() -> np.ndarray:
    return face_photo("portrait_deepface_img12.jpg")  # 560x415, 1 face


def invert(crops: np.ndarray) -> np.ndarray:
    return 255 - crops


def identity(crops: np.ndarray) -> np.ndarray:
    return crops.copy()


def _crop_footprint(result, shape: tuple[int, int], scale: int) -> np.ndarray:
    """Boolean (H, W) of output pixels covered by any 512 crop (a superset of what may change)."""
    covered = np.zeros(shape, np.uint8)
    for face in result.faces:
        warped = cv2.warpAffine(np.ones((512, 512), np.uint8), output_affine(face.affine, scale),
                                (shape[1], shape[0]), flags=cv2.INTER_NEAREST)
        covered |= warped
    return cv2.dilate(covered, np.ones((5, 5), np.uint8)).astype(bool)


def test_background_far_from_faces_is_bit_exact_and_faces_change(group, detector):
    result = restore_photo(group, invert, detector=detector)
    assert result.image.shape == group.shape and result.image.dtype == np.uint8
    assert len(result.faces) == 6 and result.message == "Restored 6 faces."
    far = ~_crop_footprint(result, group.shape[:2], 1)
    assert far.mean() > 0.5  # most of the photo is background
    np.testing.assert_array_equal(result.image[far], group[far])
    for face in result.faces:
        # Around the nose tip the inverted face is fully pasted: the pixels are the negative.
        x, y = np.rint(face.landmarks[2]).astype(int)
        patch = (slice(y - 3, y + 4), slice(x - 3, x + 4))
        expected = 255 - group[patch].astype(int)
        assert np.abs(result.image[patch].astype(int) - expected).mean() < 12
        np.testing.assert_array_equal(face.restored, 255 - face.crop)


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_output_is_input_times_scale_and_faces_go_back_in_place(portrait, detector, scale):
    h, w = portrait.shape[:2]
    result = restore_photo(portrait, identity, scale=scale, detector=detector)
    assert result.image.shape == (h * scale, w * scale, 3)
    background = cv2.resize(portrait, (w * scale, h * scale), interpolation=cv2.INTER_LANCZOS4) \
        if scale > 1 else portrait
    (face,) = result.faces
    x0, y0, x1, y1 = (np.rint((face.box + 0.5) * scale - 0.5)).astype(int)
    region = (slice(y0, y1), slice(x0, x1))
    diff = np.abs(result.image[region].astype(int) - background[region]).mean()
    shifted = np.abs(result.image[y0:y1, x0 + scale:x1 + scale].astype(int) - background[region]).mean()
    # An unchanged face pasted back matches the plain upscale; one photo pixel off would not.
    # Measured: 1.05 at scale 1 (two resamplings of a 190 px face), 0.46 at 2 and 4; a quarter
    # photo pixel off doubles it.
    assert diff < (1.3 if scale == 1 else 0.7) and shifted > 4 * diff, (diff, shifted)


def test_upscale_background_callable_gives_the_background(group, detector):
    calls = []

    def nearest(image: np.ndarray, scale: int) -> np.ndarray:
        calls.append((image.shape, scale))
        return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)

    result = restore_photo(group, invert, upscale_background=nearest, scale=2, detector=detector)
    assert calls == [(group.shape, 2)]
    far = ~_crop_footprint(result, result.image.shape[:2], 2)
    np.testing.assert_array_equal(result.image[far], nearest(group, 2)[far])


def test_wrong_shapes_from_callables_fail_loudly(portrait, detector):
    with pytest.raises(ValueError, match="upscale_background must return"):
        restore_photo(portrait, identity, scale=2, detector=detector,
                      upscale_background=lambda image, scale: image)
    with pytest.raises(ValueError, match="restore_faces must return"):
        restore_photo(portrait, lambda crops: crops[:, ::2, ::2], detector=detector)
    with pytest.raises(ValueError, match="scale must be one of"):
        restore_photo(portrait, identity, scale=3, detector=detector)
    with pytest.raises(ValueError, match="must be"):
        restore_photo(np.zeros((0, 5, 3), np.uint8), identity, detector=detector)


def test_faces_are_restored_in_batches(group, detector):
    sizes = []

    def record(crops: np.ndarray) -> np.ndarray:
        assert crops.shape[1:] == (512, 512, 3) and crops.dtype == np.uint8
        sizes.append(len(crops))
        return crops

    restore_photo(group, record, detector=detector)
    restore_photo(group, record, detector=detector, batch_size=4)
    assert sizes == [6, 4, 2]


def test_grey_photo(group, detector):
    grey = cv2.cvtColor(group, cv2.COLOR_RGB2GRAY)
    result = restore_photo(grey, invert, detector=detector)
    assert result.image.shape == group.shape and result.alpha is None
    assert 5 <= len(result.faces) <= 7
    far = ~_crop_footprint(result, grey.shape, 1)
    for c in range(3):
        np.testing.assert_array_equal(result.image[..., c][far], grey[far])


def test_16_bit_photo_gives_the_same_result_as_8_bit(portrait, detector):
    eight = restore_photo(portrait, invert, detector=detector)
    sixteen = restore_photo(portrait.astype(np.uint16) * 257, invert, detector=detector)
    np.testing.assert_array_equal(sixteen.image, eight.image)


def test_rgba_photo_keeps_its_alpha_aside(portrait, detector):
    alpha = np.tile(np.linspace(0, 255, portrait.shape[1]).astype(np.uint8), (portrait.shape[0], 1))
    rgba = np.dstack([portrait, alpha])
    result = restore_photo(rgba, invert, scale=2, detector=detector)
    assert len(result.faces) == 1
    assert result.image.shape == (portrait.shape[0] * 2, portrait.shape[1] * 2, 3)
    assert result.alpha.shape == result.image.shape[:2] and result.alpha.dtype == np.uint8
    assert abs(int(result.alpha[10, 0]) - 0) <= 2 and abs(int(result.alpha[10, -1]) - 255) <= 2


def test_photo_without_faces_returns_the_background(detector):
    yy, xx = np.mgrid[0:240, 0:320]
    image = np.dstack([xx * 255 // 319, yy * 255 // 239, np.full_like(xx, 90)]).astype(np.uint8)
    called = []
    result = restore_photo(image, lambda crops: called.append(1) or crops, scale=2, detector=detector)
    assert result.message == NO_FACE_MESSAGE and result.faces == () and called == []
    plain = cv2.resize(image, (640, 480), interpolation=cv2.INTER_LANCZOS4)
    np.testing.assert_array_equal(result.image, plain)


def test_select_largest_and_center_pick_one_face(group, detector):
    all_faces = restore_photo(group, identity, detector=detector).faces
    areas = [float((f.box[2] - f.box[0]) * (f.box[3] - f.box[1])) for f in all_faces]
    largest = restore_photo(group, invert, select="largest", detector=detector)
    assert len(largest.faces) == 1
    np.testing.assert_array_equal(largest.faces[0].box, all_faces[int(np.argmax(areas))].box)
    assert largest.message == "Restored the largest face of 6 found."

    centre = np.array([(group.shape[1] - 1) / 2, (group.shape[0] - 1) / 2])
    distances = [np.linalg.norm((f.box[:2] + f.box[2:]) / 2 - centre) for f in all_faces]
    central = restore_photo(group, invert, select="center", detector=detector)
    assert len(central.faces) == 1
    np.testing.assert_array_equal(central.faces[0].box, all_faces[int(np.argmin(distances))].box)


def test_min_face_size_filters_small_faces(detector):
    photo = face_photo("group5_group_19.jpg")  # 5 faces, boxes about 67, 70, 72, 82 and 85 px
    all_faces = restore_photo(photo, identity, detector=detector).faces
    sizes = sorted(max(f.box[2] - f.box[0], f.box[3] - f.box[1]) for f in all_faces)
    assert len(sizes) == 5 and sizes[3] - sizes[2] > 6
    threshold = int(round((sizes[2] + sizes[3]) / 2))  # between the 3rd and 4th smallest
    kept = restore_photo(photo, invert, min_face_size=threshold, detector=detector)
    assert len(kept.faces) == 2 and min(f.box[2] - f.box[0] for f in kept.faces) > 60
    assert kept.message == f"Restored 2 faces. Skipped 3 smaller than {threshold} px."
    none = restore_photo(photo, invert, min_face_size=500, detector=detector)
    assert none.faces == () and none.message.startswith("Found 5 faces, none at least 500 px")
    np.testing.assert_array_equal(none.image, photo)


def test_progress_is_reported_up_to_done(portrait, detector):
    seen = []
    restore_photo(portrait, identity, detector=detector, progress=lambda f, msg: seen.append((f, msg)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and seen[-1] == (1.0, "Done")
    assert any("Restoring faces 1-1 of 1" in msg for _, msg in seen)


def test_restore_aligned_skips_detection(portrait):
    face = cv2.resize(portrait[:400, 80:480], (256, 256), interpolation=cv2.INTER_AREA)
    seen = []

    def record(crops):
        seen.append(crops.shape)
        return invert(crops)

    assert looks_aligned(face) and not looks_aligned(portrait)
    out = restore_aligned(face, record)
    assert seen == [(1, 512, 512, 3)] and out.shape == (512, 512, 3) and out.dtype == np.uint8
    up = cv2.resize(face, (512, 512), interpolation=cv2.INTER_LANCZOS4)
    np.testing.assert_array_equal(out, 255 - up)
    with pytest.raises(ValueError, match="must be square"):
        restore_aligned(portrait, record)
