"""The studio's batch handlers (studio/batch.py) on real files with tiny random models: a zip in,
a gallery, a zip of results with its manifest and a report out; bad input listed or refused with
its reason."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from resshift.runtime.progress import CancelToken
from studio.batch import Batches, limits_text, output_names
from studio.cancel import CURRENT
from studio.handlers import Studio
from studio.limits import Limits
from tests.helpers import tiny_manager

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def manager():
    return tiny_manager("sr", "inpaint", "face")


def _studio(manager, root, **env) -> Studio:
    return Studio(manager, Limits.from_env("cpu", env), files_root=root)


@pytest.fixture
def studio(manager, tmp_path):
    return _studio(manager, tmp_path / "files")


def _crop(i: int, size=(16, 12)) -> bytes:
    src = Image.open(EXAMPLES / "sr" / "crowd_x4_lr.png").convert("RGB")
    buf = io.BytesIO()
    src.crop((8 * i, 4 * i, 8 * i + size[0], 4 * i + size[1])).save(buf, "PNG")
    return buf.getvalue()


def _zip(path: Path, entries: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return str(path)


def _reason(err: pytest.ExceptionInfo) -> str:
    return err.value.message


def test_a_zip_comes_back_as_a_zip_of_results_with_the_settings_and_seed(studio, tmp_path):
    archive = _zip(tmp_path / "photos.zip", {"trip/a.png": _crop(0), "trip/b.png": _crop(1),
                                             "broken.png": b"not an image", "notes.txt": b"hello"})
    gallery, result_zip, report, manifest = Batches(studio).sr([archive], "tiny-sr", 1, 2.0, 11)
    assert [caption for _, caption in gallery] == ["trip_a.png", "trip_b.png"]
    assert all(Image.open(path).size == (64, 48) for path, _ in gallery)
    with zipfile.ZipFile(result_zip) as zf:
        assert sorted(zf.namelist()) == ["manifest.json", "trip_a.png", "trip_b.png"]
        in_zip = json.loads(zf.read("manifest.json"))
        a = np.asarray(Image.open(io.BytesIO(zf.read("trip_a.png"))))
    assert in_zip == manifest
    assert manifest["task"] == "sr"
    assert manifest["settings"] | {"model": "tiny-sr", "steps": 1, "kappa": 2.0, "seed": 11,
                                   "spacing": "trailing"} == manifest["settings"]
    assert [(i["input"], i["output"], i["facts"]["seed"]) for i in manifest["images"]] == [
        ("photos.zip: trip/a.png", "trip_a.png", 11), ("photos.zip: trip/b.png", "trip_b.png", 11)]
    assert manifest["failed"] == [{"input": "photos.zip: broken.png", "reason": manifest["failed"][0]["reason"]}]
    assert "not an image this server can read" in manifest["failed"][0]["reason"]
    assert manifest["skipped"] == [{"input": "photos.zip: notes.txt", "reason": "not an image (.txt)"}]
    assert report.startswith("**Restored 2 of 3 images**") and "seed 11" in report
    assert "- broken.png: the file is not an image" in report and "- photos.zip: notes.txt: not an image" in report
    # the same settings and seed as a single run give the same pixels
    single = tmp_path / "a.png"
    single.write_bytes(_crop(0))
    *_, png, facts = studio.super_resolve(str(single), "tiny-sr", 1, 2.0, 11)
    assert np.array_equal(a, np.asarray(Image.open(png)))


def test_an_empty_seed_draws_one_seed_for_the_whole_batch(studio, tmp_path):
    files = []
    for i in range(2):
        files.append(str(tmp_path / f"{i}.png"))
        Path(files[-1]).write_bytes(_crop(i))
    *_, manifest = Batches(studio).sr(files, "tiny-sr", 1, 2.0, None)
    seeds = {item["facts"]["seed"] for item in manifest["images"]}
    assert seeds == {manifest["settings"]["seed"]}


def test_inpainting_pairs_each_image_with_its_mask(studio, tmp_path):
    image = Image.open(EXAMPLES / "inpaint" / "face_256.png").convert("RGB").resize((32, 32))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    mask = np.zeros((32, 32), np.uint8)
    mask[4:12, 8:24] = 255
    mbuf = io.BytesIO()
    Image.fromarray(mask).save(mbuf, "PNG")
    archive = _zip(tmp_path / "room.zip", {"room/a.png": buf.getvalue(), "room/a_mask.png": mbuf.getvalue(),
                                           "b.png": buf.getvalue(), "stray_mask.png": mbuf.getvalue()})
    gallery, result_zip, report, manifest = Batches(studio).inpaint([archive], "tiny-inpaint", 1, 2.0, 3)
    assert [c for _, c in gallery] == ["room_a.png"]
    out = np.asarray(Image.open(gallery[0][0]))
    known = mask == 0
    assert np.array_equal(out[known], np.asarray(image)[known])  # pixels outside the mask are kept
    assert manifest["images"][0]["mask"] == "room.zip: room/a_mask.png"
    assert manifest["failed"] == [{"input": "room.zip: b.png",
                                   "reason": "no mask: add b_mask.png (white = repaint) beside it"}]
    assert manifest["skipped"][0]["input"] == "room.zip: stray_mask.png"


def test_bad_batches_are_refused_with_a_sentence(studio, manager, tmp_path):
    batches = Batches(studio)
    with pytest.raises(gr.Error) as err:
        batches.sr(None, "tiny-sr", 1, 2.0, 1)
    assert "Add images first" in _reason(err)
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("bomb.png", "w", force_zip64=True) as f:
            for _ in range(100):
                f.write(bytes(1 << 20))
    with pytest.raises(gr.Error) as err:
        batches.sr([str(bomb)], "tiny-sr", 1, 2.0, 1)
    assert "bomb.zip: the archive is refused" in _reason(err) and "zip bombs" in _reason(err)
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(gr.Error) as err:
        batches.sr([str(corrupt)], "tiny-sr", 1, 2.0, 1)
    assert "corrupt.zip is not a zip file or is damaged" in _reason(err)
    many = _zip(tmp_path / "many.zip", {f"{i}.png": _crop(0, (4, 4)) for i in range(5)})
    small = Batches(_studio(manager, tmp_path / "f2", RESSHIFT_MAX_BATCH_IMAGES="4"))
    with pytest.raises(gr.Error) as err:
        small.sr([many], "tiny-sr", 1, 2.0, 1)
    assert "the archive holds 5 images; the limit is 4" in _reason(err)
    pixels = Batches(_studio(manager, tmp_path / "f3", RESSHIFT_MAX_BATCH_PIXELS="400"))
    few = _zip(tmp_path / "few.zip", {"a.png": _crop(0), "b.png": _crop(1), "c.png": _crop(2)})  # 3 x 192
    with pytest.raises(gr.Error) as err:
        pixels.sr([few], "tiny-sr", 1, 2.0, 1)
    assert "These 3 images add up to 576 pixels" in _reason(err) and "RESSHIFT_MAX_BATCH_PIXELS" in _reason(err)
    with pytest.raises(gr.Error) as err:  # settings are checked once, before any image
        batches.sr([few], "tiny-sr", 9, 2.0, 1)
    assert _reason(err).startswith("Steps must be between 1 and 4 for tiny-sr")


def test_every_image_failing_says_why_once(studio, tmp_path):
    junk = [tmp_path / f"{i}.png" for i in range(3)]
    for path in junk:
        path.write_bytes(b"junk")
    with pytest.raises(gr.Error) as err:
        Batches(studio).sr([str(p) for p in junk], "tiny-sr", 1, 2.0, 1)
    assert _reason(err).startswith("None of the 3 images could be restored: the file is not an image this "
                                   "server can read (supported:")


def test_the_request_time_limit_stops_the_batch_and_cancelling_stops_it(manager, tmp_path):
    archive = _zip(tmp_path / "two.zip", {"a.png": _crop(0), "b.png": _crop(1)})
    slow = Batches(_studio(manager, tmp_path / "f", RESSHIFT_REQUEST_TIMEOUT="0.000001"))
    with pytest.raises(gr.Error) as err:
        slow.sr([archive], "tiny-sr", 1, 2.0, 1)
    assert "not run: the batch stopped after the server's limit" in _reason(err)
    token = CancelToken()
    token.cancel()
    CURRENT.set(token)
    try:
        with pytest.raises(gr.Error) as err:
            Batches(_studio(manager, tmp_path / "g")).sr([archive], "tiny-sr", 1, 2.0, 1)
        assert "cancelled" in _reason(err)
    finally:
        CURRENT.set(None)


def test_limits_are_stated_and_configurable():
    limits = Limits.from_env("cpu", {"RESSHIFT_MAX_BATCH_IMAGES": "5", "RESSHIFT_MAX_BATCH_PIXELS": "1000x1000"})
    assert (limits.max_batch_images, limits.max_batch_pixels) == (5, 10 ** 6)
    assert (Limits.defaults("cuda").max_batch_images, Limits.defaults("cpu").max_batch_images) == (64, 16)
    with pytest.raises(ValueError, match="RESSHIFT_MAX_BATCH_IMAGES='many'"):
        Limits.from_env("cpu", {"RESSHIFT_MAX_BATCH_IMAGES": "many"})

    class Page:
        pass

    page = Page()
    page.limits = limits
    text = limits_text(page, "inpaint")
    assert "**5 images**" in text and "1000x1000 pixels in all" in text and "`NAME_mask.png`" in text


def test_output_names_follow_the_command_line_and_stay_unique():
    assert output_names(["a.jpg", "b.png", "a.png", "c d.webp", "c_d.png"]) == [
        "a_jpg.png", "b.png", "a_png.png", "c_d_webp.png", "c_d_png.png"]
