"""An inpainting model's y0: blank holes (official models) or a classical fill (the spec's hole_fill),
the same at inference and in the training data."""
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

import resshift.pipelines.tasks as tasks
from resshift.catalog import find_model
from resshift.data.masks import InpaintMasks, MaskConfig
from resshift.models.fill import classical_fill
from resshift.pipelines import RestoreOptions, inpaint
from resshift.train.tasks import make_task
from resshift.weights.lite import LITE_MODELS
from resshift.weights.registry import OFFICIAL_MODELS, ModelSpec

from .helpers import DATA, tiny_model

BSD = DATA / "images" / "bsd100_crop.png"


def _image_and_mask():
    img = np.asarray(Image.open(BSD).crop((0, 0, 70, 50)).convert("RGB"))
    mask = np.zeros(img.shape[:2], bool)
    mask[10:30, 20:45] = True
    return img, mask


@pytest.mark.parametrize("method", ["telea", "ns"])
def test_classical_fill_keeps_known_pixels_and_ignores_the_holes_values(method):
    img, mask = _image_and_mask()
    out = classical_fill(img, mask, method)
    assert out.dtype == np.uint8 and np.array_equal(out[~mask], img[~mask])
    scribbled = img.copy()
    scribbled[mask] = 255  # what was under the hole never leaks into the fill
    assert np.array_equal(classical_fill(scribbled, mask, method), out)
    # a smooth guess from the border: far closer to the truth than a flat grey
    err = lambda a: np.abs(a[mask].astype(float) - img[mask]).mean()  # noqa: E731
    assert err(out) < 0.6 * err(np.full_like(img, 128))


def test_classical_fill_edge_cases_and_errors():
    img, mask = _image_and_mask()
    assert np.array_equal(classical_fill(img, np.zeros_like(mask)), img)
    assert (classical_fill(img, np.ones_like(mask)) == 128).all()
    with pytest.raises(ValueError, match="method must be one of"):
        classical_fill(img, mask, "lama")
    with pytest.raises(ValueError, match="uint8"):
        classical_fill(img.astype(np.float32), mask)


def test_hole_fill_is_a_checked_spec_field():
    assert {s.name: s.hole_fill for s in OFFICIAL_MODELS if s.task == "inpaint"} == {
        "inpaint-imagenet": "blank", "inpaint-face": "blank"}
    assert {s.name: s.hole_fill for s in LITE_MODELS if s.task == "inpaint"} == {"lite-inpaint": "telea"}
    spec = find_model("lite-inpaint")
    assert ModelSpec.from_dict(spec.to_dict()) == spec
    older = {k: v for k, v in spec.to_dict().items() if k != "hole_fill"}  # a custom spec written before the field
    assert ModelSpec.from_dict(older).hole_fill == "blank"
    with pytest.raises(ValueError, match="hole_fill must be one of"):
        replace(spec, hole_fill="grey")
    with pytest.raises(ValueError, match="hole_fill is for inpainting models"):
        replace(find_model("lite-sr"), hole_fill="telea")


@pytest.mark.parametrize("hole_fill", ["blank", "telea", "ns"])
def test_inpaint_builds_y0_by_the_spec_and_keeps_known_pixels_exact(hole_fill, monkeypatch):
    model = tiny_model("inpaint")
    model = replace(model, spec=replace(model.spec, hole_fill=hole_fill))
    img, mask = _image_and_mask()
    seen = []
    run_model = tasks.run_model
    monkeypatch.setattr(tasks, "run_model", lambda m, y, *a, **kw: seen.append(y) or run_model(m, y, *a, **kw))
    out = inpaint(model, img, mask, RestoreOptions(seed=1)).image
    assert np.array_equal(out[~mask], img[~mask])
    y0 = ((seen[0][0].permute(1, 2, 0) + 1) * 127.5).round().byte().numpy()
    assert np.array_equal(y0[~mask], img[~mask])
    if hole_fill == "blank":
        assert (seen[0][0][:, torch.from_numpy(mask)] == -1).all()
    else:
        assert np.array_equal(y0, classical_fill(img, mask, hole_fill))


def test_training_pairs_prefill_as_the_pipeline_does():
    img, mask = _image_and_mask()
    rng = np.random.default_rng(3)
    sample = InpaintMasks(MaskConfig(), "telea")(img.astype(np.float32) / 255, rng)
    missing = sample["mask"][0].numpy() > 0.5
    assert np.array_equal(sample["filled"].permute(1, 2, 0).numpy(), classical_fill(img, missing, "telea"))
    assert "filled" not in InpaintMasks(MaskConfig())(img.astype(np.float32) / 255, rng)
    task = make_task("inpaint", {}, 0, torch.device("cpu"), hole_fill="telea")
    batch = {"gt": torch.from_numpy(img.copy()).permute(2, 0, 1)[None], **{k: v[None] for k, v in sample.items()}}
    pair = task.pair(batch, torch.device("cpu"))
    filled = torch.from_numpy(classical_fill(img, missing, "telea")).permute(2, 0, 1)[None].float() / 127.5 - 1
    assert torch.equal(pair.y0, filled) and torch.equal(pair.model_kwargs["lq"], pair.y0)
    assert torch.equal(pair.model_kwargs["mask"][0, 0] > 0, torch.from_numpy(missing))
    blank = make_task("inpaint", {}, 0, torch.device("cpu")).pair(
        {k: v for k, v in batch.items() if k != "filled"}, torch.device("cpu"))
    assert (blank.y0[0][:, torch.from_numpy(missing)] == -1).all()
