"""The corpus of bad and odd inputs (tests/corpus.py) through the library pipelines and the studio's
handlers, with tiny random models: each input gives a correct result or a clear error naming the
problem (and the limit, when one applies). The HTTP endpoints: test_hardening_http.py; the CLI:
test_hardening_cli.py."""
import re

import gradio as gr
import numpy as np
import pytest
from gradio.components.image_editor import EditorData
from gradio.data_classes import FileData
from PIL import Image, ImageFile

from resshift.manager import ModelManager
from resshift.pipelines import (ImageTooLargeError, InvalidImageError, InvalidMaskError, PhotoOptions, RestoreOptions,
                                decode_image, inpaint, restore_face, super_resolve)
from studio.components import CheckedImageEditor
from studio.handlers import Studio
from studio.limits import Limits
from tests.corpus import BIG_SIDE, HUGE, IMAGE_NAMES, MASK_NAMES, image_corpus, mask_corpus, texture
from tests.helpers import tiny_model

pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")  # big.png, expected

OPTIONS = RestoreOptions(steps=1, seed=3)
LIMIT = 1024 * 1024  # the library's max_pixels in these tests
TASKS = ("sr", "inpaint", "face", "photo")
CPU = Limits.defaults("cpu")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return image_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def models():
    return {task: tiny_model(task) for task in ("sr", "inpaint", "face")}


@pytest.fixture(scope="module")
def manager(models):
    m = ModelManager([], device="cpu")
    for model in models.values():
        m.put(model)
    return m


@pytest.fixture
def studio(manager, tmp_path):
    return Studio(manager, CPU, files_root=tmp_path / "files")


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail if anything decodes an image's pixels (huge files must be refused from the header)."""
    def refuse(self, *args, **kwargs):
        raise AssertionError(f"{getattr(self, 'filename', 'an image')} was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


def _centre_mask(size: tuple[int, int]) -> np.ndarray:
    w, h = size
    mask = np.zeros((h, w), bool)
    mask[h // 4: h - h // 4 or 1, w // 4: w - w // 4 or 1] = True
    return mask


def _run(task: str, models, source, mask=None):
    if task == "sr":
        return super_resolve(models["sr"], source, OPTIONS, max_pixels=LIMIT).image
    if task == "inpaint":
        return inpaint(models["inpaint"], source, mask, OPTIONS, max_pixels=LIMIT).image
    if task == "face":
        return restore_face(models["face"], source, OPTIONS, max_pixels=LIMIT).image
    result = restore_face(models["face"], source, OPTIONS, photo=PhotoOptions(), max_pixels=LIMIT)
    assert result.message.startswith("No face found")  # nothing in the corpus is a face
    return result.image


# ----------------------------------------------------------------------------- decoding
@pytest.mark.parametrize("name", [n for n in IMAGE_NAMES if n not in HUGE])
def test_decoding_follows_the_table(corpus, name):
    case = corpus[name]
    if not case.readable:
        with pytest.raises(InvalidImageError, match=case.error):
            decode_image(case.path)
        return
    decoded = decode_image(case.path)
    assert decoded.size == case.size
    assert (decoded.alpha is not None) == case.alpha
    assert decoded.rgb.dtype == np.float32 and 0 <= decoded.rgb.min() and decoded.rgb.max() <= 1
    if case.colour is not None:  # animations: the first frame (red), not the second (blue)
        assert decoded.rgb.reshape(-1, 3).mean(0) == pytest.approx(case.colour, abs=0.03)


def test_exif_rotation_turns_the_stored_pixels(corpus):
    stored = np.asarray(Image.open(corpus["exif_rotated.jpg"].path))  # 24 rows x 40 columns, unrotated
    shown = (decode_image(corpus["exif_rotated.jpg"].path).rgb * 255).round()
    assert stored.shape[:2] == (24, 40) and shown.shape[:2] == (40, 24)
    assert np.abs(shown - np.rot90(stored, k=-1)).mean() < 1  # EXIF 6 = a quarter turn clockwise


def test_bomb_is_refused_before_decoding(corpus, no_decoding):
    with pytest.raises(ImageTooLargeError, match="too large to open safely: images over 179 megapixels") as err:
        decode_image(corpus["bomb.png"].path)
    assert err.value.size is None and err.value.limit == 2 * Image.MAX_IMAGE_PIXELS


def test_big_image_is_refused_from_its_header(corpus, no_decoding):
    with pytest.raises(ImageTooLargeError, match=r"10000x10000 = 100\.0 megapixels; the limit here is 1\.0") as err:
        decode_image(corpus["big.png"].path, max_pixels=LIMIT)
    assert err.value.size == (BIG_SIDE, BIG_SIDE) and err.value.limit == LIMIT


# ----------------------------------------------------------------------------- library pipelines
@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("name", IMAGE_NAMES)
def test_library_pipelines(corpus, models, name, task, request):
    case = corpus[name]
    if name in HUGE:
        request.getfixturevalue("no_decoding")
    mask = _centre_mask(case.size) if case.readable and name not in HUGE else np.ones((1, 1), bool)
    if not case.readable:
        with pytest.raises(InvalidImageError, match=case.error):
            _run(task, models, case.path, mask)
        return
    if name == "big.png":
        with pytest.raises(ImageTooLargeError, match=r"10000x10000 .* limit here is 1\.0 megapixels"):
            _run(task, models, case.path, mask)
        return
    w, h = case.size
    if task == "face" and not case.square:
        with pytest.raises(InvalidImageError, match=rf"must be square .* this image is {w}x{h}"):
            _run(task, models, case.path, mask)
        return
    out = _run(task, models, case.path, mask)
    scale = 4 if task == "sr" else 1
    assert out.shape == (h * scale, w * scale, 4 if case.alpha else 3) and out.dtype == np.uint8
    decoded = decode_image(case.path)
    known = (decoded.rgb * 255).round().astype(np.uint8)
    if task == "inpaint":  # known pixels exact, alpha kept
        assert np.array_equal(out[..., :3][~mask], known[~mask])
    if task == "photo":  # no face: the background alone, unchanged at scale 1
        assert np.array_equal(out[..., :3], known)
    if case.alpha and scale == 1:  # (SR resizes the alpha plane bicubically)
        assert np.array_equal(out[..., 3], (decoded.alpha * 255).round().astype(np.uint8))


@pytest.mark.parametrize("name", MASK_NAMES)
def test_library_inpaint_masks(models, tmp_path, name, request):
    image = texture(32, 24, seed=9)
    case = mask_corpus(tmp_path, (32, 24))[name]
    if name == "mask_huge.png":
        request.getfixturevalue("no_decoding")  # the image is an array; the mask must stay undecoded
    if case.repaint is None:
        with pytest.raises(InvalidMaskError, match=case.error):
            inpaint(models["inpaint"], image, case.path, OPTIONS)
        return
    result = inpaint(models["inpaint"], image, case.path, OPTIONS)
    assert result.extra["masked_fraction"] == pytest.approx(case.repaint.mean(), abs=1e-4)
    assert np.array_equal(result.image[~case.repaint], image[~case.repaint])
    assert (result.image[case.repaint] != image[case.repaint]).any()


def test_soft_and_grey_masks_are_thresholded_at_half(tmp_path):
    masks = mask_corpus(tmp_path, (32, 24))
    from resshift.pipelines import decode_mask

    levels = decode_mask(masks["mask_grey_levels.png"].path, (32, 24))
    assert [bool(levels[0, x]) for x in (0, 8, 16, 24)] == [False, False, True, True]  # 0, 100, 128, 200
    soft = np.asarray(Image.open(masks["mask_soft_edges.png"].path))
    assert 0 < ((soft > 0) & (soft < 255)).mean()  # really soft
    assert np.array_equal(decode_mask(masks["mask_soft_edges.png"].path, (32, 24)), soft >= 128)


# ----------------------------------------------------------------------------- studio handlers
def _message(err: pytest.ExceptionInfo) -> str:
    return err.value.message


def _expect_refusal(case, task: str, message: str) -> None:
    limit = {"sr": "512x512", "inpaint": "768x768", "face": "1536x1536"}[task]
    if case.name == "bomb.png":
        assert "too large to open safely (over 179 megapixels)" in message and limit in message
    elif case.name == "big.png":
        # an image over the limit is refused; a whole photo up to 64 megapixels would be fitted
        assert "10000x10000" in message and limit in message and ("Crop or downscale" in message
                                                                   or "Downscale it" in message)
    else:
        assert re.search(f"(?i){case.error}", message), message
    assert "Traceback" not in message and "Error:" not in message


@pytest.mark.parametrize("mode", ["sr", "aligned", "photo"])
@pytest.mark.parametrize("name", IMAGE_NAMES)
def test_studio_handlers(studio, corpus, name, mode, tmp_path, request):
    case = corpus[name]
    task = "sr" if mode == "sr" else "face"
    if name in HUGE:
        request.getfixturevalue("no_decoding")

    def call():
        if mode == "sr":
            return studio.super_resolve(str(case.path), "tiny-sr", 1, 2.0, 5)
        return studio.restore_face(str(case.path), mode, "tiny-face", 1, 2.0, 5)

    if not case.readable or name in HUGE:
        with pytest.raises(gr.Error) as err:
            call()
        _expect_refusal(case, task, _message(err))
        assert not list((tmp_path / "files").rglob("*.png"))  # refused before anything was written
        return
    w, h = case.size
    if mode == "aligned" and not case.square:
        with pytest.raises(gr.Error, match=f"must be square.*this image is {w}x{h}"):
            call()
        return
    _, _, path, facts = call()
    scale = 4 if mode == "sr" else 1
    with Image.open(path) as out:
        assert out.format == "PNG" and out.size == (w * scale, h * scale)
        assert out.mode == ("RGBA" if case.alpha else "RGB")
    assert facts["size"] == f"{w * scale}x{h * scale}"


def _editor_payload(case, tmp_path) -> EditorData:
    size = case.size if case.readable and case.name not in HUGE else (8, 8)
    layer = np.zeros((size[1], size[0], 4), np.uint8)
    layer[..., :3] = (255, 45, 85)
    layer[..., 3] = _centre_mask(size) * 178
    Image.fromarray(layer).save(tmp_path / "stroke.png")
    return EditorData(background=FileData(path=str(case.path)), layers=[FileData(path=str(tmp_path / "stroke.png"))])


@pytest.mark.parametrize("name", IMAGE_NAMES)
def test_studio_inpaint_through_the_editor(studio, corpus, name, tmp_path, request):
    """The editor component decodes with the library: bad files get the same sentences, limits
    apply before decoding, EXIF orientation, 16-bit and float images are handled."""
    case = corpus[name]
    editor = CheckedImageEditor(type="numpy", image_mode="RGBA")
    editor.decode = lambda source: studio.decode_upload("inpaint", source)
    payload = _editor_payload(case, tmp_path)
    if name in HUGE:
        request.getfixturevalue("no_decoding")
    if not case.readable or name in HUGE:
        with pytest.raises(gr.Error) as err:
            editor.preprocess(payload)
        _expect_refusal(case, "inpaint", _message(err))
        return
    value = editor.preprocess(payload)
    w, h = case.size
    assert value["background"].shape == (h, w, 4) and value["background"].dtype == np.uint8
    decoded = decode_image(case.path)
    known = (decoded.rgb * 255).round().astype(np.uint8)
    assert np.array_equal(value["background"][..., :3], known)  # as the library reads it
    _, _, path, facts, _ = studio.inpaint(value, None, "tiny-inpaint", 1, 2.0, 5)
    out = np.asarray(Image.open(path))
    mask = _centre_mask(case.size)
    assert out.shape == (h, w, 4 if case.alpha else 3)
    assert np.array_equal(out[..., :3][~mask], known[~mask])
    assert facts["masked_fraction"] == pytest.approx(mask.mean(), abs=1e-4)


@pytest.mark.parametrize("name", MASK_NAMES)
def test_studio_inpaint_uploaded_masks(studio, tmp_path, name):
    image = texture(32, 24, seed=9)
    case = mask_corpus(tmp_path / "masks", (32, 24))[name]
    editor = {"background": image, "layers": [], "composite": None}
    if case.repaint is None:
        with pytest.raises(gr.Error) as err:
            studio.inpaint(editor, str(case.path), "tiny-inpaint", 1, 2.0, 5)
        assert re.search(case.error, _message(err)), _message(err)
        return
    _, _, path, facts, preview = studio.inpaint(editor, str(case.path), "tiny-inpaint", 1, 2.0, 5)
    out = np.asarray(Image.open(path))
    assert np.array_equal(out[~case.repaint], image[~case.repaint])
    assert facts["masked_fraction"] == pytest.approx(case.repaint.mean(), abs=1e-4)
    assert preview.shape == (24, 32, 3)
