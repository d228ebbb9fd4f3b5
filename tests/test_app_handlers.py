"""The studio's handlers on real images with tiny random models (no server, no browser)."""
import re
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from studio import widgets
from resshift.manager import ModelManager
from studio import models as catalog
from studio.handlers import BLANK_CANVAS, NO_IMAGE, NO_STROKE, Studio, parse_values
from studio.images import editor_mask, safe_stem
from studio.limits import Limits
from resshift.catalog import find_model
from tests.helpers import tiny_manager, tiny_model, tiny_spec

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def manager():
    return tiny_manager("sr", "inpaint", "face")


@pytest.fixture
def studio(manager, tmp_path):
    return Studio(manager, Limits.defaults("cpu"), files_root=tmp_path)


def _crop(src: Path, box, dest: Path) -> Path:
    Image.open(src).convert("RGB").crop(box).save(dest)
    return dest


@pytest.fixture
def small_photo(tmp_path) -> Path:
    """A 32x24 crop of a real low-resolution example photo."""
    return _crop(EXAMPLES / "sr" / "crowd_x4_lr.png", (60, 40, 92, 64), tmp_path / "crowd crop.png")


def _message(err: pytest.ExceptionInfo) -> str:
    return err.value.message


def test_super_resolve_is_x4_png_with_facts(studio, small_photo, tmp_path):
    (before, after), caption, path, facts = studio.super_resolve(str(small_photo), "tiny-sr", 2, 2.0, 7)
    assert Image.open(path).format == "PNG" and Image.open(path).size == (128, 96)
    assert Image.open(before).size == (128, 96)  # the input, resized to the result for the slider
    assert Path(after) == Path(path)
    assert Path(path).is_relative_to(tmp_path) and "crowd_crop" in Path(path).name
    assert facts["model"] == "tiny-sr" and facts["steps"] == 2 and facts["seed"] == 7
    assert facts["size"] == "128x96" and facts["device"] == "cpu"
    assert caption.startswith("**Left:** input (bicubic)")
    assert "tiny-sr · 2 steps · κ 2 · seed 7" in caption
    assert re.search(r"seed 7 · ×4 · \d+\.\d s$", caption)  # how long the run took, to compare settings by


def test_same_seed_same_result_and_each_request_gets_its_own_folder(studio, small_photo):
    first = studio.super_resolve(str(small_photo), "tiny-sr", 1, 2.0, 3)[2]
    second = studio.super_resolve(str(small_photo), "tiny-sr", 1, 2.0, 3)[2]
    assert Path(first).parent != Path(second).parent
    assert np.array_equal(np.asarray(Image.open(first)), np.asarray(Image.open(second)))


def test_before_image_nearest_repeats_input_pixels(studio, small_photo):
    (before, _), *_ = studio.super_resolve(str(small_photo), "tiny-sr", 1, 2.0, 1, "nearest")
    before = np.asarray(Image.open(before))
    source = np.asarray(Image.open(small_photo))
    assert np.array_equal(before[::4, ::4], source)


def _editor(background: np.ndarray, strokes: list[tuple[slice, slice]]) -> dict:
    h, w = background.shape[:2]
    layer = np.zeros((h, w, 4), np.uint8)
    for rows, cols in strokes:
        layer[rows, cols] = (255, 45, 85, 178)
    rgba = np.concatenate([background, np.full((h, w, 1), 255, np.uint8)], axis=2)  # as the editor sends
    return {"background": rgba, "layers": [layer], "composite": None}


def test_inpaint_keeps_unmasked_pixels_exact(studio):
    face = np.asarray(Image.open(EXAMPLES / "inpaint" / "face_256.png").convert("RGB").resize((64, 64)))
    editor = _editor(face, [(slice(20, 36), slice(10, 50))])
    (before, _), _, path, facts, preview = studio.inpaint(editor, None, "tiny-inpaint", 2, 2.0, 5)
    out = np.asarray(Image.open(path))
    assert out.shape == (64, 64, 3)  # opaque editor images come back as plain RGB
    known = np.ones((64, 64), bool)
    known[20:36, 10:50] = False
    assert np.array_equal(out[known], face[known])
    assert not np.array_equal(out[~known], face[~known])  # the hole was repainted
    assert facts["masked_fraction"] == pytest.approx(16 * 40 / 64 ** 2, abs=1e-4)
    assert preview.shape == (64, 64, 3) and preview[0, 0].sum() < face[0, 0].sum()  # dimmed outside
    before = np.asarray(Image.open(before))
    assert np.array_equal(before[known][:, :3], face[known])  # the slider's "before" is the input


def test_inpaint_without_a_stroke_runs_nothing(studio, tmp_path):
    face = np.asarray(Image.open(EXAMPLES / "inpaint" / "face_256.png").convert("RGB"))
    with pytest.raises(gr.Error) as err:
        studio.inpaint(_editor(face, []), None, "tiny-inpaint", 2, 2.0, 5)
    assert _message(err) == NO_STROKE + "."
    assert not list(tmp_path.rglob("*.png"))  # nothing was written


@pytest.mark.parametrize("colour", [(255, 255, 255, 255), (0, 0, 0, 0)])
def test_inpaint_on_a_blank_canvas_asks_for_an_image(studio, tmp_path, colour):
    """With nothing uploaded, or a file the browser could not open, the editor sends a blank canvas
    of one colour with the strokes on it: no image to inpaint."""
    editor = _editor(np.zeros((256, 256, 3), np.uint8), [(slice(20, 60), slice(10, 90))])
    editor["background"] = np.full((256, 256, 4), colour, np.uint8)
    with pytest.raises(gr.Error) as err:
        studio.inpaint(editor, None, "tiny-inpaint", 2, 2.0, 5)
    assert _message(err) == BLANK_CANVAS + "."
    assert not list(tmp_path.rglob("*.png"))
    flat_but_one = editor["background"].copy()
    flat_but_one[0, 0, 0] ^= 1  # any image with two colours in it is an image
    editor["background"] = flat_but_one
    assert studio.inpaint(editor, None, "tiny-inpaint", 1, 2.0, 5)[3]["masked_fraction"] > 0
    editor["background"] = np.full((256, 256, 4), (128, 128, 128, 255), np.uint8)  # flat grey: an image
    assert studio.inpaint(editor, None, "tiny-inpaint", 1, 2.0, 5)[3]["masked_fraction"] > 0


def test_inpaint_with_an_uploaded_mask(studio, tmp_path):
    face = np.asarray(Image.open(EXAMPLES / "inpaint" / "face_256.png").convert("RGB").resize((64, 64)))
    mask = np.zeros((64, 64), np.uint8)
    mask[40:60, 8:30] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    path = studio.inpaint(_editor(face, []), str(tmp_path / "mask.png"), "tiny-inpaint", 1, 2.0, 5)[2]
    out = np.asarray(Image.open(path))
    assert np.array_equal(out[mask == 0], face[mask == 0])
    Image.fromarray(mask[:32]).save(tmp_path / "small_mask.png")
    with pytest.raises(gr.Error, match="64x32 but the image is 64x64"):
        studio.inpaint(_editor(face, []), str(tmp_path / "small_mask.png"), "tiny-inpaint", 1, 2.0, 5)


def test_editor_mask_unions_layers_and_rescales():
    a = np.zeros((10, 20, 4), np.uint8)
    a[1, 2, 3] = 1
    b = np.zeros((5, 10, 4), np.uint8)  # a half-size canvas layer
    b[4, 9, 3] = 255
    mask = editor_mask([a, None, b], (20, 10))
    assert mask[1, 2] and mask[9, 19] and mask.sum() == 1 + 4


def test_aligned_face(studio):
    _, _, path, facts = studio.restore_face(str(EXAMPLES / "face" / "celebahq_00234_lq.jpg"), "aligned",
                                            "tiny-face", 1, 2.0, 11)
    assert Image.open(path).size == (512, 512) and facts["model"] == "tiny-face"
    assert Path(path).name == "celebahq_00234_lq_tiny-face_1s_k2_seed11.png"


@pytest.mark.slow
def test_whole_photo_restores_every_face_and_scales(studio):
    seen = []
    _, caption, path, facts = studio.restore_face(
        str(EXAMPLES / "face" / "speaker_photo.jpg"), "photo", "tiny-face", 1, 2.0, 3, "bicubic", "none", 2,
        "resize", "all", 32, progress=lambda fraction, desc=None: seen.append(desc))
    assert Image.open(path).size == (880, 586)
    assert Path(path).name == "speaker_photo_tiny-face_1s_k2_seed3_x2.png"
    assert f"whole photo ×2 · {facts['faces']} face" in caption  # the caption says what was done
    assert facts["faces"] >= 1 and facts["scale"] == 2 and facts["seed"] == 3
    assert seen[0] == "Detecting faces" and any(d.endswith("step 1/1") for d in seen)


def test_whole_photo_with_sr_background_obeys_the_sr_limit(manager, tmp_path):
    limits = Limits.from_env("cpu", {"RESSHIFT_MAX_PIXELS_SR": "64x64"})
    studio = Studio(manager, limits, files_root=tmp_path)
    with pytest.raises(gr.Error, match="Super-resolution here accepts inputs up to 64x64"):
        studio.restore_face(str(EXAMPLES / "face" / "speaker_photo.jpg"), "photo", "tiny-face", 1, 2.0, 3,
                            "bicubic", "none", 2, "sr", "all", 32)


def test_aligned_mode_refuses_a_non_square_photo(studio):
    with pytest.raises(gr.Error, match="must be square"):
        studio.restore_face(str(EXAMPLES / "face" / "speaker_photo.jpg"), "aligned", "tiny-face", 1, 2.0, 1)


def test_missing_image(studio):
    with pytest.raises(gr.Error) as err:
        studio.super_resolve(None, "tiny-sr", 1, 2.0, 1)
    assert _message(err) == NO_IMAGE + "."


@pytest.mark.parametrize("content, words", [
    (b"this is not an image", "not an image this server can read"),
    (b"", "empty (0 bytes)"),
])
def test_bad_files_get_a_sentence(studio, tmp_path, content, words):
    bad = tmp_path / "photo.png"
    bad.write_bytes(content)
    with pytest.raises(gr.Error) as err:
        studio.super_resolve(str(bad), "tiny-sr", 1, 2.0, 1)
    assert words in _message(err)
    assert "Traceback" not in _message(err)


def test_truncated_file(studio, small_photo, tmp_path):
    data = small_photo.read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(gr.Error, match="damaged or truncated"):
        studio.super_resolve(str(tmp_path / "cut.png"), "tiny-sr", 1, 2.0, 1)


def test_over_the_pixel_limit(manager, tmp_path, small_photo):
    limits = Limits.from_env("cpu", {"RESSHIFT_MAX_PIXELS_SR": "16x16"})
    studio = Studio(manager, limits, files_root=tmp_path / "files")
    with pytest.raises(gr.Error) as err:
        studio.super_resolve(str(small_photo), "tiny-sr", 1, 2.0, 1)
    text = _message(err)
    assert "32x24" in text and "16x16" in text and "Crop or downscale" in text
    assert not (tmp_path / "files").exists()  # refused before anything ran or was written


def test_over_the_upload_limit(manager, tmp_path, small_photo):
    limits = Limits.from_env("cpu", {"RESSHIFT_MAX_UPLOAD_MB": "0.001"})
    studio = Studio(manager, limits, files_root=tmp_path)
    with pytest.raises(gr.Error, match="accepts uploads up to"):
        studio.super_resolve(str(small_photo), "tiny-sr", 1, 2.0, 1)


def test_messages_are_html_escaped(studio, small_photo):
    with pytest.raises(gr.Error) as err:  # an API caller controls the model name
        studio.super_resolve(str(small_photo), "<img src=x onerror=alert(1)>", 1, 2.0, 1)
    assert "<img" not in _message(err) and "&lt;img" in _message(err)
    assert "Unknown model" in _message(err)


@pytest.mark.parametrize("steps, kappa, seed, words", [
    (5, 2.0, 1, "between 1 and 4"),
    (0, 2.0, 1, "between 1 and 4"),
    (2, 0.0, 1, "kappa must be from 0.1 to 8"),
    (2, 9.0, 1, "kappa must be from 0.1 to 8; got 9"),
    (2, 2.0, -3, "seed must be a whole number"),
    ("many", 2.0, 1, "steps must be a number"),
    (float("inf"), 2.0, 1, "steps must be a number"),
    (2, float("nan"), 1, "kappa must be from 0.1 to 8"),
])
def test_bad_settings(studio, small_photo, steps, kappa, seed, words):
    with pytest.raises(gr.Error, match="(?i)" + words):
        studio.super_resolve(str(small_photo), "tiny-sr", steps, kappa, seed)


@pytest.mark.parametrize("resample, tile, color_fix, words", [
    ("lanczos", "auto", "none", "resample must be one of"),
    ("bicubic", "64", "none", "tile must be one of"),
    ("bicubic", "auto", "magic", "color_fix must be one of"),
])
def test_bad_choices_from_api_callers(studio, small_photo, tmp_path, resample, tile, color_fix, words):
    with pytest.raises(gr.Error, match="(?i)" + words):
        studio.super_resolve(str(small_photo), "tiny-sr", 1, 2.0, 1, resample, tile, color_fix)
    assert not list(tmp_path.rglob("req-*"))  # refused before running


def test_wrong_task_model(studio, small_photo):
    with pytest.raises(gr.Error, match="tiny-face is a face restoration model; choose a super-resolution"):
        studio.super_resolve(str(small_photo), "tiny-face", 1, 2.0, 1)


def test_empty_seed_draws_one_and_reports_it(studio, small_photo):
    facts = studio.super_resolve(str(small_photo), "tiny-sr", 1, 2.0, None)[3]
    assert isinstance(facts["seed"], int) and 0 <= facts["seed"] < 2 ** 31


def test_compare_steps_gallery_and_slider_choices(studio, small_photo):
    gallery, pair, caption, state, table, download = studio.compare_sr(
        str(small_photo), "tiny-sr", 4, 2.0, 9, "bicubic", "auto", "none", "steps", "1, 3")
    assert download == pair[1] == state[2]["path"]  # the download matches the slider's right side
    assert [label.split(" · ")[0] for _, label in gallery] == ["1 step", "3 steps"]
    assert all(label.endswith(" s") for _, label in gallery)  # timings
    assert [row["steps"] for row in table] == [1, 3] and {row["seed"] for row in table} == {9}
    assert state[0]["label"] == "input" and pair == (state[1]["path"], state[2]["path"])
    assert "1 step" in caption and "3 steps" in caption
    left, right = studio.compare_choices(state)
    assert left["value"] == state[1]["label"] and right["value"] == state[2]["label"]
    assert left["choices"] == [s["label"] for s in state]
    picked, picked_caption, download = studio.pick("input", state[2]["label"], state)
    assert picked == (state[0]["path"], state[2]["path"]) and "**Left:** input" in picked_caption
    assert download == state[2]["path"]
    assert studio.pick(state[1]["label"], "input", state)[2] == state[1]["path"]  # the result, not the input
    for _, path in [(None, p) for p, _ in gallery]:
        assert Image.open(path).size == (128, 96)


def test_compare_kappa(studio, small_photo):
    table = studio.compare_sr(str(small_photo), "tiny-sr", 1, 2.0, 9, "bicubic", "auto", "none",
                              "kappa", "0.5, 4")[4]
    assert [row["kappa"] for row in table] == [0.5, 4.0] and {row["steps"] for row in table} == {1}


def test_parse_values():
    four, fifteen = tiny_spec("sr"), find_model("realsr-v1")  # trained with 4 and 15 steps
    assert parse_values("steps", "", four, 4) == [1, 2, 3, 4]
    assert parse_values("kappa", "", four, 4) == [0.5, 1.0, 2.0, 4.0]
    assert parse_values("kappa", "", four, 3) == [0.5, 1.0, 2.0]
    assert parse_values("steps", "", fifteen, 4) == [1, 6, 10, 15]
    assert parse_values("steps", "1-3, 3", four, 4) == [1, 2, 3]
    assert parse_values("kappa", "0.5; 2", four, 4) == [0.5, 2.0]
    for vary, text, words in [("steps", "1", "at least two"), ("steps", "1,9", "between 1 and 4"),
                              ("kappa", "a,b", "cannot read"), ("steps", "1-6", "at most 4"),
                              ("kappa", "0.5, 16", "from 0.1 to 8")]:  # as the slider of a single run
        with pytest.raises(ValueError, match=words):
            parse_values(vary, text, four, 4)


def test_timeout_stops_the_run(manager, tmp_path, small_photo):
    limits = Limits.from_env("cpu", {"RESSHIFT_REQUEST_TIMEOUT": "0.000001"})
    studio = Studio(manager, limits, files_root=tmp_path)
    with pytest.raises(gr.Error, match="limit of 0 seconds per request"):
        studio.super_resolve(str(small_photo), "tiny-sr", 2, 2.0, 1)


def test_out_of_memory_is_caught_and_the_next_request_served(studio, small_photo, monkeypatch):
    real = studio.run_jobs

    def oom(jobs, progress=None):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(studio, "run_jobs", oom)
    with pytest.raises(gr.Error) as err:
        studio.super_resolve(str(small_photo), "tiny-sr", 1, 2.0, 1)
    assert "ran out of memory" in _message(err) and "smaller tile" in _message(err)
    monkeypatch.setattr(studio, "run_jobs", real)
    assert studio.super_resolve(str(small_photo), "tiny-sr", 1, 2.0, 1)[3]["size"] == "128x96"


def test_unexpected_errors_are_logged_and_shown_short(studio, small_photo, monkeypatch, caplog):
    def boom(jobs, progress=None):
        raise KeyError("internal detail")

    monkeypatch.setattr(studio, "run_jobs", boom)
    with pytest.raises(gr.Error) as err:
        studio.super_resolve(str(small_photo), "tiny-sr", 1, 2.0, 1)
    text = _message(err)
    assert text.startswith("Something went wrong while super-resolving the image (error ")
    assert "internal detail" not in text
    ref = text.split("(error ")[1].split(")")[0]
    assert any(ref in r.getMessage() and r.exc_info for r in caplog.records)


def test_progress_reports_steps(studio, small_photo):
    seen = []
    studio.super_resolve(str(small_photo), "tiny-sr", 3, 2.0, 1,
                         progress=lambda fraction, desc=None: seen.append((fraction, desc)))
    assert [d for _, d in seen] == ["step 1/3", "step 2/3", "step 3/3"]
    assert seen[-1][0] == pytest.approx(1.0)


def test_offline_model_without_weights(tmp_path, small_photo):
    spec = tiny_model("sr").spec
    manager = ModelManager([spec], device="cpu", weights_dir=tmp_path / "none", allow_download=False)
    assert catalog.availability(manager, spec.name) == "offline"
    assert catalog.label(manager, spec.name).endswith(" · not available offline")
    studio = Studio(manager, Limits.defaults("cpu"), files_root=tmp_path)
    with pytest.raises(gr.Error) as err:
        studio.super_resolve(str(small_photo), spec.name, 1, 2.0, 1)
    assert "weight files tiny-sr-unet.safetensors and tiny-sr-vq.safetensors are not on this machine" in \
        _message(err)


def test_model_labels_and_default(manager):
    assert catalog.choices(manager, "sr") == [("tiny-sr — Tiny sr (random weights) · loaded", "tiny-sr")]
    assert catalog.default_name(manager, "face") == "tiny-face"
    assert catalog.default_name(manager, "none") is None


def test_sliders_follow_the_model(manager):
    steps, kappa = widgets.model_settings(manager, "tiny-sr")
    assert steps["maximum"] == 4 and steps["value"] == 4 and "trained with 4" in steps["label"]
    assert kappa["value"] == 2.0 and "trained value: 2" in kappa["label"]
    lite = find_model("lite-sr")  # sampled in fewer steps than it was trained with: the label says both
    assert widgets._steps_label(lite) == "Steps (1–4; best at 1, trained with 4)"


def test_spaces_gpu_is_a_no_op_off_spaces(studio):
    import spaces

    def fn(x):
        return x

    assert spaces.GPU(duration=60)(fn) is fn
    assert studio.run_jobs == studio._run_jobs


def test_live_rerun_skips_without_input_or_toggle(studio, small_photo):
    rest = ("tiny-sr", 1, 2.0, 1, "bicubic", "auto", "none")
    assert all(v == gr.skip() for v in studio.live_sr(False, str(small_photo), *rest))  # toggle off
    assert all(v == gr.skip() for v in studio.live_sr(True, None, *rest))  # no input
    face = np.zeros((32, 32, 3), np.uint8)
    no_stroke = studio.live_inpaint(True, _editor(face, []), None, "tiny-inpaint", *rest[1:])
    assert all(v == gr.skip() for v in no_stroke)
    ran = studio.live_sr(True, str(small_photo), *rest)
    assert ran[3]["steps"] == 1


def test_safe_stem():
    assert safe_stem("../../etc/passwd") == "passwd"
    assert safe_stem("my photo (1).JPG") == "my_photo_1"
    assert safe_stem("...") == "image"


def test_compare_models_runs_each_model_at_its_own_settings(manager, tmp_path, small_photo):
    manager.put(tiny_model("sr", seed=1, name="tiny-sr-b"))
    studio = Studio(manager, Limits.defaults("cpu"), files_root=tmp_path)
    gallery, pair, caption, state, table, download = studio.compare_sr(
        str(small_photo), "tiny-sr", 1, 0.5, 9, "bicubic", "auto", "none", "models", "tiny-sr, tiny-sr-b")
    assert [row["model"] for row in table] == ["tiny-sr", "tiny-sr-b"]
    assert {row["steps"] for row in table} == {4} and {row["kappa"] for row in table} == {2.0}  # their own
    assert {row["seed"] for row in table} == {9}  # one seed for all
    assert [label.split(" · ")[:2] for _, label in gallery] == [["tiny-sr", "4 steps"], ["tiny-sr-b", "4 steps"]]
    assert all(label.endswith(" s") for _, label in gallery)  # with their timings
    a, b = (np.asarray(Image.open(p)) for p, _ in gallery)
    assert a.shape == b.shape == (96, 128, 3) and not np.array_equal(a, b)
    assert download == pair[1] and "tiny-sr-b" in caption
    with pytest.raises(gr.Error, match="tiny-face is a face restoration model"):
        studio.compare_sr(str(small_photo), "tiny-sr", 1, 2.0, 9, "bicubic", "auto", "none", "models",
                          "tiny-sr, tiny-face")
    with pytest.raises(gr.Error, match="needs at least two models that can run here; name them, e.g. tiny-sr, "):
        studio.compare_sr(str(small_photo), "tiny-sr", 1, 2.0, 9, "bicubic", "auto", "none", "models", "tiny-sr")


def test_an_unnamed_model_comparison_leaves_out_what_cannot_be_had_and_says_so(tmp_path, small_photo, monkeypatch):
    """No models named: the comparison set's official models cannot be fetched (nothing listens at
    the mirror), so the bundled SR models run, and the caption says what was left out and why."""
    monkeypatch.setenv("RESSHIFT_CACHE_DIR", str(tmp_path / "cache"))
    manager = ModelManager(device="cpu", allow_download=True, mirror="http://127.0.0.1:9",
                           weights_dir=tmp_path / "none")
    studio = Studio(manager, Limits.defaults("cpu"), files_root=tmp_path)
    gallery, pair, caption, state, table, download = studio.compare_sr(
        str(small_photo), "lite-sr", 1, 2.0, 9, "bicubic", "auto", "none", "models", "")
    assert [row["model"] for row in table] == ["lite-sr", "lite-sr-bicubic"]
    assert "Left out: realsr-v3 (resshift_realsrx4_s4_v3.pth could not be had: could not connect" in caption
    _, picked_caption, _ = studio.pick(state[2]["label"], state[1]["label"], state)  # another pair picked
    assert "Left out: realsr-v3 (" in picked_caption  # the reason stays in the caption
    offline = ModelManager(device="cpu", allow_download=False, weights_dir=tmp_path / "none")
    editor = _editor(np.asarray(Image.open(small_photo).convert("RGB")), [(slice(0, 8), slice(0, 8))])
    with pytest.raises(gr.Error, match="only lite-inpaint can run here without a download"):
        Studio(offline, Limits.defaults("cpu"), files_root=tmp_path).compare_inpaint(
            editor, None, "lite-inpaint", 1, 2.0, 9, "bicubic", "auto", "none", "models", "")


def test_a_failed_download_says_why_from_where_and_where_to_put_the_file(tmp_path, small_photo):
    """Downloads allowed but nothing listening: the page names the reason, the URL and the folder."""
    spec = tiny_model("sr").spec  # its files' URL is http://127.0.0.1:9/... (nothing listens there)
    manager = ModelManager([spec], device="cpu", weights_dir=tmp_path / "none", allow_download=True)
    studio = Studio(manager, Limits.defaults("cpu"), files_root=tmp_path)
    with pytest.raises(gr.Error) as err:
        studio.super_resolve(str(small_photo), spec.name, 1, 2.0, 1)
    text = _message(err)
    assert "tiny-sr-unet.safetensors and tiny-sr-vq.safetensors are not on this machine" in text
    assert "could not connect" in text and "http://127.0.0.1:9/tiny-sr-unet.safetensors" in text
    assert "--weights-dir" in text


def test_the_page_says_what_the_bundled_models_are(tmp_path, monkeypatch):
    from studio.notice import notice

    monkeypatch.setenv("RESSHIFT_CACHE_DIR", str(tmp_path))
    online = notice(ModelManager(device="cpu", allow_download=True))
    assert "small preview models" in online and "realsr-v3 (0.7 GB)" in online
    assert "on a 2-core CPU, about 4 s for a 64×64 input" in online and "lite-sr-bicubic" in online
    offline_manager = ModelManager(device="cpu", allow_download=False)
    offline = notice(offline_manager)
    assert "small preview models" in offline and "downloaded on first use" not in offline
    assert "faceir (0.8 GB); on a 2-core CPU, about 4 s for a 64×64 input" in offline
    offline_manager.get("lite-sr")  # a bundled model in use is still named among the bundled ones
    assert "(lite-sr, lite-inpaint, lite-face, lite-sr-bicubic) are small preview models" in notice(offline_manager)
    assert "This server does not download: to use them, put their weight files (resshift_realsrx4_s4_v3.pth, " \
           "autoencoder_vq_f4.pth, resshift_inpainting_imagenet_s4.pth, " in offline


def test_clicking_a_result_never_puts_one_image_on_both_sides():
    state = [{"label": "input"}, {"label": "kappa 0.5"}, {"label": "kappa 1"}, {"label": "kappa 2"}]
    left, right = Studio.clicked(state, "kappa 0.5", "kappa 2", 0)  # the audit's click: the first result
    assert left["value"] == "kappa 2" and right["value"] == "kappa 0.5"
    left, right = Studio.clicked(state, "kappa 0.5", "kappa 0.5", 0)  # nothing else shown yet: the input
    assert left["value"] == "input" and right["value"] == "kappa 0.5"
    left, right = Studio.clicked(state, "kappa 0.5", "kappa 2", 1)  # another result: left stays
    assert left == gr.skip() and right["value"] == "kappa 1"


def test_aligned_face_caption_says_so(studio):
    caption = studio.restore_face(str(EXAMPLES / "face" / "celebahq_00234_lq.jpg"), "aligned", "tiny-face", 1,
                                  2.0, 11)[1]
    assert re.search(r"seed 11 · aligned face · \d+\.\d s$", caption)  # what was done, and how long it took


def test_inpainting_results_keep_the_uploaded_files_name(studio, tmp_path):
    from gradio.data_classes import FileData
    from gradio.components.image_editor import EditorData

    from studio.components import CheckedImageEditor

    face = np.asarray(Image.open(EXAMPLES / "inpaint" / "face_256.png").convert("RGB").resize((64, 64)))
    Image.fromarray(face).save(tmp_path / "upload.png")
    layer = np.zeros((64, 64, 4), np.uint8)
    layer[10:30, 10:40, 3] = 200
    Image.fromarray(layer).save(tmp_path / "stroke.png")
    editor = CheckedImageEditor(type="numpy", image_mode="RGBA")
    value = editor.preprocess(EditorData(
        background=FileData(path=str(tmp_path / "upload.png"), orig_name="my holiday.png"),
        layers=[FileData(path=str(tmp_path / "stroke.png"))]))
    assert value["name"] == "my holiday.png"
    path = studio.inpaint(value, None, "tiny-inpaint", 1, 2.0, 5)[2]
    assert Path(path).name.startswith("my_holiday_tiny-inpaint_1s_k2_seed5")
