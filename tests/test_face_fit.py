"""Ordinary photos on the face tab: a whole photo over the face-input limit is fitted to it (and
said) on the page, the API and batches; a face batch restores a non-square image as a whole photo;
three phone photos fit a CPU server's batch."""
from pathlib import Path

import gradio as gr
import pytest
from PIL import Image

from studio.batch import Batches, image_mode
from studio.handlers import Studio
from studio.limits import Limits
from tests.helpers import tiny_manager

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def manager():
    return tiny_manager("face")


@pytest.fixture
def studio(manager, tmp_path):
    return Studio(manager, Limits.defaults("cpu"), files_root=tmp_path)


@pytest.fixture(scope="module")
def big_photo(tmp_path_factory) -> Path:
    """A 2400x1600 JPEG photo with a face (the speaker example, enlarged): over the CPU face limit."""
    path = tmp_path_factory.mktemp("photos") / "holiday.jpg"
    Image.open(EXAMPLES / "face" / "speaker_photo.jpg").convert("RGB").resize((2400, 1600), Image.BICUBIC).save(
        path, quality=90)
    return path


@pytest.mark.slow
def test_a_2400x1600_photo_on_the_cpu_face_tab_is_fitted_and_said(studio, big_photo):
    assert 2400 * 1600 > studio.limits.max_pixels["face"]
    _, caption, path, facts = studio.restore_face(str(big_photo), "photo", "tiny-face", 1, 2.0, 3)
    w, h = Image.open(path).size
    assert w * h <= studio.limits.max_pixels["face"] and abs(w / h - 1.5) < 0.01
    assert facts["fitted_from"] == "2400x1600" and facts["size"] == f"{w}x{h}"
    assert f"The photo was 2400x1600 pixels" in caption and f"fitted (downscaled) to {w}x{h}" in caption


def test_an_aligned_face_over_the_limit_is_still_refused(manager, tmp_path):
    studio = Studio(manager, Limits.from_env("cpu", {"RESSHIFT_MAX_PIXELS_FACE": "64x64"}), files_root=tmp_path)
    face = tmp_path / "face.png"
    Image.new("RGB", (96, 96), "gray").save(face)
    with pytest.raises(gr.Error, match="accepts inputs up to 64x64"):
        studio.restore_face(str(face), "aligned", "tiny-face", 1, 2.0, 3)


def test_the_fit_keeps_the_result_within_the_output_limit(manager, tmp_path):
    limits = Limits.from_env("cpu", {"RESSHIFT_MAX_PIXELS_FACE": "200x200", "RESSHIFT_MAX_OUTPUT_PIXELS": "300x300"})
    photo = tmp_path / "p.png"
    Image.new("RGB", (400, 300), "gray").save(photo)
    decoded = limits.decode("face", str(photo), scale=2, fit=True)
    assert decoded.original_size == (400, 300) and decoded.size[0] * decoded.size[1] * 4 <= 300 * 300


def test_a_face_batch_takes_non_square_images_as_whole_photos(studio, tmp_path):
    face = tmp_path / "face.png"
    Image.open(EXAMPLES / "face" / "celebahq_00234_lq.jpg").convert("RGB").resize((64, 64)).save(face)
    wide = tmp_path / "wide.png"
    Image.new("RGB", (64, 40), "gray").save(wide)
    assert (image_mode("aligned", face), image_mode("aligned", wide), image_mode("photo", face)) == \
        ("aligned", "photo", "photo")
    gallery, _, report, manifest = Batches(studio).face([str(face), str(wide)], "aligned", "tiny-face", 1, 2.0, 5)
    assert [c for _, c in gallery] == ["face.png", "wide.png"] and not manifest["failed"]
    assert [i["facts"]["mode"] for i in manifest["images"]] == ["aligned", "photo"]


def test_three_phone_photos_fit_a_cpu_batch(studio, tmp_path):
    phones = []
    for i in range(3):  # 12-megapixel phone photos, counted as fitted to the face limit
        phones.append(tmp_path / f"IMG_{i}.jpg")
        Image.new("RGB", (4032, 3024), (100 + i, 90, 80)).save(phones[-1], quality=80)
    gathered = Batches(studio)._gather("face", [str(p) for p in phones], tmp_path, lambda path: True)
    assert len(gathered.items) == 3
    assert all(p.stat().st_size < studio.limits.max_upload_bytes for p in phones)
