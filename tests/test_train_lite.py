"""The bundled ResShift-lite specs (resshift/weights/lite.py): what the trainer builds and exports."""
from pathlib import Path

import pytest
import torch

from resshift.diffusion import Schedule, sample
from resshift.models import PixelUnshuffleStage, SwinUNet
from resshift.train.init import initialize
from resshift.weights.lite import LITE_MODELS, lite_model

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny networks: one torch thread

MIB = 2 ** 20
ROOT = Path(__file__).resolve().parents[1]


def test_names_tasks_and_files():
    assert [(s.name, s.task) for s in LITE_MODELS] == [("lite-sr", "sr"), ("lite-sr-bicubic", "sr"),
                                                      ("lite-inpaint", "inpaint"), ("lite-face", "face")]
    for spec in LITE_MODELS:
        stem = spec.name.removeprefix("lite-").replace("-", "_")
        assert spec.unet_weights.filename == f"resshift_lite_{stem}.safetensors"
        assert spec.unet_weights.bundled == f"lite/resshift_lite_{stem}.safetensors"
        assert (ROOT / "configs" / f"lite_{stem}.yaml").is_file()
        assert spec.unet_weights.url is None and not spec.official
        assert spec.first_stage == "pixel" and spec.first_stage_weights is None
    with pytest.raises(KeyError, match="lite-sr"):
        lite_model("lite-xx")


def test_diffusion_settings():
    for spec in LITE_MODELS:
        d = spec.diffusion
        assert (d.steps, d.kappa, d.min_noise_level, d.etas_end, d.power) == (4, 2.0, 0.2, 0.99, 0.3)
        assert d.sf == (4 if spec.task == "sr" else 1)
        assert d.normalize_input and not d.latent  # pixel latents: the pixel-space normalisation
    assert lite_model("lite-sr").first_stage_params["factor"] == 4
    assert lite_model("lite-sr-bicubic").unet_params == lite_model("lite-sr").unet_params
    assert lite_model("lite-inpaint").first_stage_params["factor"] == 4
    assert lite_model("lite-face").first_stage_params["factor"] == 8


@pytest.mark.parametrize("spec", LITE_MODELS, ids=lambda s: s.name)
def test_size_budget(spec):
    unet = SwinUNet(**spec.unet_params)
    params = sum(p.numel() for p in unet.parameters())
    fp16_bytes = sum(t.numel() * (2 if t.is_floating_point() else t.element_size())
                     for t in unet.state_dict().values())
    assert params <= 3.0e6, params
    assert fp16_bytes <= 8 * MIB, fp16_bytes


def test_sr_runs_at_lr_resolution():
    spec = lite_model("lite-sr")
    p = spec.unet_params
    assert p["in_channels"] == p["out_channels"] == 48 and p["lq_size"] == p["image_size"]
    assert isinstance(SwinUNet(**p).feature_extractor, torch.nn.Identity)


@pytest.mark.parametrize("spec,size", [(lite_model("lite-sr"), 32), (lite_model("lite-inpaint"), 128),
                                       (lite_model("lite-face"), 256)], ids=lambda v: getattr(v, "name", v))
def test_sampling_shapes(spec, size):
    unet = initialize(SwinUNet(**spec.unet_params), torch.Generator().manual_seed(0)).eval()
    first = PixelUnshuffleStage(**spec.first_stage_params)
    g = torch.Generator().manual_seed(0)
    y = torch.rand(1, 3, size, size, generator=g) * 2 - 1
    kwargs = {}
    if spec.task == "inpaint":
        kwargs["model_kwargs"] = {"lq": y, "mask": torch.ones(1, 1, size, size)}
    out = sample(unet, y, Schedule.create(spec.diffusion), spec.diffusion, first_stage=first, generator=g,
                 **kwargs)
    side = size * spec.diffusion.sf
    assert out.shape == (1, 3, side, side)
    assert float(out.abs().max()) <= 1.0 + 1e-6  # pixel latents: x0 is clipped to [-1, 1]
