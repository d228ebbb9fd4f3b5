"""Whole-photo face restoration through a ResShift face model (tiny random weights)."""
import numpy as np
import pytest
from PIL import Image

from resshift.pipelines import PhotoOptions, RestoreOptions, restore_face

from tests.helpers import DATA, tiny_model

PORTRAIT = DATA / "faces" / "portrait_deepface_img12.jpg"


@pytest.fixture(scope="module")
def face():
    return tiny_model("face")


def test_portrait_face_restored_and_pasted(face):
    r = restore_face(face, PORTRAIT, RestoreOptions(seed=2, steps=1), photo=PhotoOptions(scale=2))
    src = Image.open(PORTRAIT)
    assert r.image.shape == (src.height * 2, src.width * 2, 3)
    assert len(r.faces) == 1 and r.message == "Restored 1 face."
    assert r.faces[0].restored.shape == (512, 512, 3)
    facts = r.facts()
    assert facts["faces"] == 1 and facts["seed"] == 2 and facts["steps"] == 1
    # reproducible for a seed
    again = restore_face(face, PORTRAIT, RestoreOptions(seed=2, steps=1), photo=PhotoOptions(scale=2))
    assert np.array_equal(r.image, again.image)


def test_no_face_gives_background_and_message(face):
    flat = np.full((60, 80, 3), 128, np.uint8)
    r = restore_face(face, flat, RestoreOptions(seed=0), photo=PhotoOptions(scale=2))
    assert r.image.shape == (120, 160, 3) and len(r.faces) == 0
    assert "No face found" in r.message


def test_rgba_photo_keeps_alpha(face):
    rgba = Image.open(PORTRAIT).convert("RGBA")
    r = restore_face(face, rgba, RestoreOptions(seed=0, steps=1), photo=PhotoOptions(scale=1))
    assert r.image.shape[2] == 4 and r.image[..., 3].min() == 255


def test_refuses_wrong_model():
    with pytest.raises(ValueError, match="tiny-sr is a super-resolution model; choose a face restoration model"):
        restore_face(tiny_model("sr"), PORTRAIT, photo=PhotoOptions())
