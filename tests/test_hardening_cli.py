"""The command line on a folder holding the whole corpus (tests/corpus.py): bad files are reported
and skipped, good ones processed, exit status 1, never a traceback."""
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.corpus import HUGE, MASK_NAMES, image_corpus, mask_corpus, texture
from tests.helpers import run_cli, write_tiny_model

ROOT = Path(__file__).resolve().parents[1]


def _skipped(output: str) -> dict[str, str]:
    """{file name: reason} from the 'skipped NAME: reason' lines (on stderr)."""
    lines = [line.split("skipped ", 1)[1] for line in output.splitlines() if "skipped " in line]
    return dict(line.split(": ", 1) for line in lines)


# face: whole-photo mode (no face in the corpus)
@pytest.mark.parametrize("task", [pytest.param("sr", marks=pytest.mark.slow), "face"])
def test_the_whole_corpus(tmp_path, task):
    spec, wdir = write_tiny_model(tmp_path, task)
    cases = image_corpus(tmp_path / "in")
    out = tmp_path / "out"
    res = run_cli(task, str(tmp_path / "in"), "-o", str(out), "--model-spec", str(spec), "--weights-dir", str(wdir),
               "--offline", "--device", "cpu", "--steps", "1", "--seed", "2", "--max-pixels", "1024x1024", "-q")
    text = res.stdout + res.stderr
    assert "Traceback" not in text
    assert res.returncode == 1, text
    bad = {n for n, c in cases.items() if not c.readable or n in HUGE}
    skipped = _skipped(res.stderr)
    assert set(skipped) == bad, text
    for name in bad - set(HUGE):
        assert re.search(cases[name].error, skipped[name]), skipped[name]
    assert "too large to open safely" in skipped["bomb.png"]
    assert "10000x10000" in skipped["big.png"] and "limit here is 1.0 megapixels" in skipped["big.png"]
    assert f"{len(bad)} of {len(cases)} inputs failed" in res.stderr
    stems = [Path(n).stem for n in cases]
    assert stems.count("animated") == 2  # animated.gif and animated.webp: both kept, by suffix
    for name, case in cases.items():
        path = Path(name)
        shared = stems.count(path.stem) > 1
        result = out / (f"{path.stem}_{path.suffix[1:].lower()}.png" if shared else path.stem + ".png")
        if name in bad:
            assert not result.exists()
            continue
        scale = 4 if task == "sr" else 1
        with Image.open(result) as img:
            assert img.size == (case.size[0] * scale, case.size[1] * scale), name
            assert img.mode == ("RGBA" if case.alpha else "RGB"), name


def test_max_pixels_is_checked(tmp_path):
    spec, wdir = write_tiny_model(tmp_path, "sr")
    Image.fromarray(texture(40, 30)).save(tmp_path / "a.png")
    common = ("--model-spec", str(spec), "--weights-dir", str(wdir), "--offline", "--device", "cpu", "--steps", "1")
    res = run_cli("sr", str(tmp_path / "a.png"), "-o", str(tmp_path / "o.png"), "--max-pixels", "1000", *common)
    assert res.returncode == 1 and "a.png: the image is 40x30" in res.stderr and "Traceback" not in res.stderr
    assert res.stdout == ""  # stdout holds results only
    res = run_cli("sr", str(tmp_path / "a.png"), "-o", str(tmp_path / "o.png"), "--max-pixels", "big", *common)
    assert res.returncode == 2 and "expected WIDTHxHEIGHT or a pixel count" in res.stderr


def test_inpaint_with_the_mask_corpus(tmp_path):
    """A folder of copies of one image, each with a mask of the same name from the mask corpus."""
    spec, wdir = write_tiny_model(tmp_path, "inpaint")
    masks = mask_corpus(tmp_path / "masks", (32, 24))
    image = texture(32, 24, seed=4)
    (tmp_path / "in").mkdir()
    for name in MASK_NAMES:
        Image.fromarray(image).save(tmp_path / "in" / name)
    out = tmp_path / "out"
    res = run_cli("inpaint", str(tmp_path / "in"), "--mask", str(tmp_path / "masks"), "-o", str(out),
               "--model-spec", str(spec), "--weights-dir", str(wdir), "--offline", "--device", "cpu",
               "--steps", "1", "--seed", "1", "-q")
    assert "Traceback" not in res.stdout + res.stderr
    assert res.returncode == 1
    skipped = _skipped(res.stderr)
    assert set(skipped) == {n for n, m in masks.items() if m.repaint is None}
    for name, case in masks.items():
        if case.repaint is None:
            assert re.search(case.error, skipped[name]), skipped[name]
            continue
        result = np.asarray(Image.open(out / name))
        assert np.array_equal(result[~case.repaint], image[~case.repaint]), name
