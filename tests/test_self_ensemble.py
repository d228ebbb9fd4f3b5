"""The geometric self-ensemble: a run restores flipped views of its input and averages them flipped
back (RestoreOptions.self_ensemble; the model's own default, ModelSpec.self_ensemble)."""
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from resshift.catalog import find_model
from resshift.errors import InvalidRequest
from resshift.pipelines import RestoreOptions, inpaint
from resshift.pipelines.cost import estimate_work
from resshift.pipelines.restore import FLIPS, run_model
from resshift.weights.lite import LITE_MODELS
from resshift.weights.registry import OFFICIAL_MODELS, ModelSpec

from .helpers import DATA, ROOT, tiny_model

BSD = DATA / "images" / "bsd100_crop.png"


pytestmark = pytest.mark.usefixtures("one_thread")


def _y(model, h=40, w=56, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, h, w, generator=g) * 2 - 1


@pytest.mark.parametrize("tile", [None, 32])  # in one call, and in tiled stages
@pytest.mark.parametrize("views", [2, 4])
def test_the_result_is_the_mean_of_the_flipped_runs(views, tile):
    """Each view is the single run of the flipped input (the seed's noise in its own frame), flipped
    back; the result is their mean, cropped as a plain run is."""
    model = tiny_model("sr")
    y = _y(model)
    options = RestoreOptions(seed=5, steps=2, tile=tile, tile_overlap=8 if tile else None)
    singles = []
    for dims in FLIPS[:views]:
        flipped = y.flip(dims) if dims else y
        out = run_model(model, flipped, replace(options, self_ensemble=1)).image
        singles.append(out.flip(dims) if dims else out)
    run = run_model(model, y, replace(options, self_ensemble=views))
    torch.testing.assert_close(run.image, torch.stack(singles).mean(0), rtol=0, atol=1e-6)
    assert run.views == views and run.image.shape == singles[0].shape
    plain = run_model(model, y, replace(options, self_ensemble=1))
    assert plain.views == 1 and torch.equal(plain.image, singles[0])
    assert not torch.allclose(run.image, plain.image)  # the views differ: the mean is not one of them


def test_progress_counts_every_view():
    model = tiny_model("sr")
    events = []
    run_model(model, _y(model), RestoreOptions(seed=1, steps=3, self_ensemble=4), callback=events.append)
    assert len(events) == 12
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    assert events[3].describe() == "view 2/4, step 1/3"


def test_defaults_come_from_the_spec_and_bad_values_are_refused():
    lite = find_model("lite-inpaint")
    assert lite.self_ensemble == 4
    assert {s.name for s in (*OFFICIAL_MODELS, *LITE_MODELS) if s.self_ensemble != 1} == {"lite-inpaint"}
    assert RestoreOptions().resolve(lite).self_ensemble == 4
    assert RestoreOptions(self_ensemble=1).resolve(lite).self_ensemble == 1
    assert RestoreOptions().resolve(find_model("lite-sr")).self_ensemble == 1
    assert not replace(RestoreOptions().resolve(lite), self_ensemble=None).resolved
    for bad in (3, 0, 8):
        with pytest.raises(InvalidRequest, match="self_ensemble"):
            RestoreOptions(self_ensemble=bad)
    with pytest.raises(InvalidRequest, match="whole number"):
        RestoreOptions(self_ensemble=2.5)
    with pytest.raises(ValueError, match="self_ensemble must be one of"):
        replace(lite, self_ensemble=3)
    assert ModelSpec.from_dict(lite.to_dict()) == lite
    older = {k: v for k, v in lite.to_dict().items() if k != "self_ensemble"}  # a spec written before the field
    assert ModelSpec.from_dict(older).self_ensemble == 1


def test_work_is_counted_per_view():
    lite = find_model("lite-inpaint")
    one = estimate_work(lite, (256, 192), RestoreOptions(self_ensemble=1)).flops
    assert estimate_work(lite, (256, 192), RestoreOptions()).flops == pytest.approx(4 * one)
    assert estimate_work(lite, (256, 192), RestoreOptions(self_ensemble=2)).flops == pytest.approx(2 * one)


def test_bundled_inpainting_averages_four_views_and_keeps_known_pixels():
    """lite-inpaint at its defaults: four views (reported in the result's facts; each the run of the
    flipped model input, as above), known pixels bit-exact; one view when asked."""
    from resshift.manager import ModelManager

    model = ModelManager(device="cpu", allow_download=False).get("lite-inpaint")
    img = np.asarray(Image.open(BSD).convert("RGB"))[:96, :128]
    mask = np.zeros(img.shape[:2], bool)
    mask[20:50, 30:70] = True
    result = inpaint(model, img, mask, RestoreOptions(seed=3))
    assert result.facts()["self_ensemble"] == 4 and result.steps == 1
    assert np.array_equal(result.image[~mask], img[~mask])
    single = inpaint(model, img, mask, RestoreOptions(seed=3, self_ensemble=1))
    assert "self_ensemble" not in single.facts()
    assert np.array_equal(single.image[~mask], img[~mask]) and not np.array_equal(single.image, result.image)


def test_cli_takes_self_ensemble(tmp_path):
    img = Image.open(BSD).convert("RGB").crop((0, 0, 64, 48))
    img.save(tmp_path / "in.png")
    mask = np.zeros((48, 64), np.uint8)
    mask[10:30, 20:40] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")

    def run(*extra):
        return subprocess.run([sys.executable, "-m", "resshift", "inpaint", str(tmp_path / "in.png"), "--mask",
                               str(tmp_path / "mask.png"), "-o", str(tmp_path / f"out{len(extra)}.png"), "--offline",
                               "--model", "lite-inpaint", "--seed", "1", *extra],
                              capture_output=True, text=True, cwd=ROOT, timeout=300)

    default, single = run(), run("--self-ensemble", "1")
    assert default.returncode == 0 and single.returncode == 0, default.stderr + single.stderr
    a = np.asarray(Image.open(tmp_path / "out0.png"))
    b = np.asarray(Image.open(tmp_path / "out2.png"))
    assert not np.array_equal(a, b) and np.array_equal(a[mask == 0], b[mask == 0])
    bad = run("--self-ensemble", "3")
    assert bad.returncode == 2 and "--self-ensemble" in bad.stderr
