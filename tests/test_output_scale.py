"""Output scale and colour profiles of a result: x2 and x3 from an x4 model (its x4 result
downscaled), said in the facts; the input's ICC profile written into the result file; the same
through the command line."""
import io
import json

import numpy as np
import pytest
from PIL import Image, ImageCms

from resshift.errors import InvalidRequest
from resshift.media.image import decode_image
from resshift.pipelines import RestoreOptions, inpaint, super_resolve

from tests.helpers import DATA, run_cli, tiny_model, write_tiny_model

REAL = DATA / "images" / "realsr_canon006_crop.png"


SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@pytest.fixture(scope="module")
def sr():
    return tiny_model("sr")


def _png(image: Image.Image, **params) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG", **params)
    return buf.getvalue()


def test_x2_and_x3_are_the_x4_result_downscaled(sr):
    img = Image.open(REAL).convert("RGB").crop((0, 0, 40, 24))
    x4 = super_resolve(sr, img, RestoreOptions(steps=1, seed=5))
    assert x4.image.shape == (96, 160, 3) and x4.facts()["scale"] == 4
    for scale in (2, 3):
        result = super_resolve(sr, img, RestoreOptions(steps=1, seed=5, scale=scale))
        assert result.image.shape == (24 * scale, 40 * scale, 3) and result.facts()["scale"] == scale
        expected = np.asarray(Image.fromarray(x4.image).resize((40 * scale, 24 * scale), Image.BICUBIC))
        assert np.abs(result.image.astype(int) - expected).mean() < 6  # the same picture, antialiased


@pytest.mark.parametrize("scale, message", [(5, "must be 2, 3 or 4 for tiny-sr (an x4 model"),
                                            (1, "must be 2, 3 or 4")])
def test_a_scale_the_model_cannot_make_is_refused_in_a_sentence(sr, scale, message):
    with pytest.raises(InvalidRequest, match=message.replace("(", r"\(")):
        RestoreOptions(scale=scale).resolve(sr.spec)


def test_inpainting_keeps_the_size():
    model = tiny_model("inpaint")
    with pytest.raises(InvalidRequest, match="keeps the input's size"):
        RestoreOptions(scale=2).resolve(model.spec)
    assert RestoreOptions().resolve(model.spec).scale == 1


def test_the_inputs_colour_profile_goes_into_the_result_file(sr, tmp_path):
    img = Image.open(REAL).convert("RGB").crop((0, 0, 32, 24))
    result = super_resolve(sr, _png(img, icc_profile=SRGB), RestoreOptions(steps=1, seed=1, scale=2))
    assert result.icc_profile == SRGB and result.facts()["color_profile"] == "sRGB built-in"
    for suffix in ("png", "jpg", "webp"):
        result.save(tmp_path / f"out.{suffix}")
        assert Image.open(tmp_path / f"out.{suffix}").info.get("icc_profile") == SRGB, suffix
    plain = super_resolve(sr, img, RestoreOptions(steps=1, seed=1))
    plain.save(tmp_path / "plain.png")
    assert plain.icc_profile is None and "icc_profile" not in Image.open(tmp_path / "plain.png").info
    mask = np.zeros((24, 32), bool)
    mask[4:10, 4:12] = True
    filled = inpaint(tiny_model("inpaint"), _png(img, icc_profile=SRGB), mask, RestoreOptions(steps=1, seed=1))
    assert filled.icc_profile == SRGB


def test_a_grey_profile_is_not_carried_onto_rgb_pixels():
    grey = ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()
    img = Image.new("L", (8, 8), 128)
    assert decode_image(_png(img, icc_profile=grey)).icc_profile is None


def test_a_large_photo_is_fitted_to_a_pixel_limit_and_says_its_size():
    photo = Image.open(REAL).convert("RGB").resize((240, 160))
    buf = io.BytesIO()
    photo.save(buf, "JPEG", quality=90, icc_profile=SRGB)
    decoded = decode_image(buf.getvalue(), fit_pixels=100 * 100)
    assert decoded.size[0] * decoded.size[1] <= 100 * 100 and decoded.original_size == (240, 160)
    assert abs(decoded.size[0] / decoded.size[1] - 1.5) < 0.03 and decoded.icc_profile == SRGB
    small = decode_image(buf.getvalue(), fit_pixels=240 * 160)
    assert small.size == (240, 160) and small.original_size is None
    array = decode_image(np.asarray(photo), fit_pixels=100 * 100)
    assert array.original_size == (240, 160) and array.size[0] * array.size[1] <= 100 * 100


def test_cli_sr_scale_2_and_3_and_the_profile(tmp_path):
    spec, wdir = write_tiny_model(tmp_path, "sr")
    Image.open(REAL).convert("RGB").crop((0, 0, 40, 24)).save(tmp_path / "in.png", icc_profile=SRGB)
    common = ["--model-spec", str(spec), "--weights-dir", str(wdir), "--offline", "--steps", "1", "--device",
              "cpu", "-q"]
    for scale in (2, 3):
        out = tmp_path / f"x{scale}.png"
        res = run_cli("sr", str(tmp_path / "in.png"), "-o", str(out), "--scale", str(scale), *common)
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout)["scale"] == scale
        with Image.open(out) as result:
            assert result.size == (40 * scale, 24 * scale) and result.info.get("icc_profile") == SRGB
    res = run_cli("sr", str(tmp_path / "in.png"), "-o", str(tmp_path / "x5.png"), "--scale", "1", *common)
    assert res.returncode == 2 and "the output scale must be 2, 3 or 4 for tiny-sr" in res.stderr


def test_a_videos_frames_take_the_scale_too(sr):
    from resshift.pipelines.video import restore_frames

    frames = [np.full((16, 24, 3), 60 + 20 * i, np.uint8) for i in range(2)]
    out = list(restore_frames(sr, frames, RestoreOptions(steps=1, seed=2, scale=3)))
    assert [f.shape for f in out] == [(48, 72, 3)] * 2


def test_the_ray_runner_writes_the_profile_as_the_cli_does(tmp_path):
    """The Ray runner, the CLI and the studio's batches save through one routine
    (resshift.pipelines.files.restore_file: RestoreResult.save), which keeps the profile."""
    from resshift.pipelines.files import restore_file
    from resshift.pipelines.result import RestoreResult

    result = RestoreResult(np.zeros((4, 4, 3), np.uint8), "m", "cpu", 0.0, icc_profile=SRGB)
    outcome = restore_file(tmp_path / "in.png", tmp_path / "a.png", lambda: result)
    assert outcome.ok and Image.open(tmp_path / "a.png").info.get("icc_profile") == SRGB
