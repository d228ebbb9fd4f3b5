"""SinSR (one-step distilled ResShift v1) through the path the studio and the CLI take: its model
spec's own defaults (1 step of the 15-step schedule, trailing) reproduce the case made by SinSR's
own code (fixtures/resshift_reference/sample_sinsr_one_step, random weights) to 1e-4."""
from dataclasses import replace

import numpy as np
import pytest
import torch

import resshift.diffusion.sampler as sampler
from resshift.catalog import find_model
from resshift.diffusion import DiffusionConfig
from resshift.media.image import from_model_output
from resshift.loader import RestorationModel
from resshift.models import SwinUNet, VQAutoencoder
from resshift.pipelines import RestoreOptions, super_resolve
from resshift.pipelines.restore import run_model
from resshift.weights import load_into

from tests.helpers import fixture_json, fixture_tensors

CASE = "sample_sinsr_one_step"


@pytest.fixture(scope="module")
def sinsr() -> RestorationModel:
    """The registry's sinsr spec with the fixture's (small) networks; its diffusion and sampling
    settings are the registry's own."""
    cfg = fixture_json(CASE)
    spec = find_model("sinsr")
    assert spec.diffusion == DiffusionConfig.from_official(cfg["diffusion"])  # 15 steps, kappa 2, 0.04
    spec = replace(spec, unet_params=cfg["config"], first_stage_params=cfg["vq_config"])
    weights = fixture_tensors(CASE, "weights")
    unet, vq = SwinUNet(**cfg["config"]).eval(), VQAutoencoder(**cfg["vq_config"]).eval()
    load_into(unet, {k[5:]: v for k, v in weights.items() if k.startswith("unet.")})
    load_into(vq, {k[3:]: v for k, v in weights.items() if k.startswith("vq.")})
    return RestorationModel(spec, unet.requires_grad_(False), vq.requires_grad_(False))


@pytest.fixture
def fixture_noise(monkeypatch):
    """The prior noise SinSR's code drew, in place of the seed's (the only random draw of a run)."""
    io = fixture_tensors(CASE, "io")
    real = sampler._draw_all

    def draw(shape, count, generator, device, **kwargs):
        drawn = real(shape, count, generator, device, **kwargs)
        drawn[0] = io["prior_noise"][0]
        return drawn

    monkeypatch.setattr(sampler, "_draw_all", draw)
    return io


def test_default_options_are_one_trailing_step_at_the_last_timestep(sinsr):
    options = RestoreOptions().resolve(sinsr.spec)
    assert (options.steps, options.spacing, options.kappa) == (1, "trailing", 2.0)
    assert sinsr.schedule(options.steps, options.kappa, options.spacing).timesteps == (14,)


def test_the_studio_path_reproduces_sinsr(sinsr, fixture_noise):
    io = fixture_noise
    run = run_model(sinsr, io["y"], RestoreOptions(seed=0))  # the model's defaults, as the studio's
    assert run.schedule.timesteps == (14,) and run.tiles == 1
    assert run.image.shape == io["out"].shape
    assert (run.image - io["out"]).abs().max().item() < 1e-4
    # and the whole pipeline (image in, uint8 out), as the CLI runs it
    lq = ((io["y"][0].permute(1, 2, 0) + 1) / 2).numpy()
    result = super_resolve(sinsr, lq, RestoreOptions(seed=0))
    expected = from_model_output(io["out"].clamp(-1, 1))
    assert result.steps == 1 and result.timesteps == (14,)
    assert np.abs(result.image.astype(int) - expected.astype(int)).max() <= 1


def test_more_steps_are_offered_up_to_the_trained_fifteen(sinsr):
    assert RestoreOptions(steps=15).resolve(sinsr.spec).steps == 15
    with pytest.raises(ValueError, match="between 1 and 15 for sinsr"):
        RestoreOptions(steps=16).resolve(sinsr.spec)
    run = run_model(sinsr, torch.zeros(1, 3, 16, 32), RestoreOptions(seed=1, steps=4))
    assert run.schedule.timesteps == (3, 7, 10, 14)  # trailing: always the last trained step
