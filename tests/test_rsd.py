"""RSD (one-step residual shifting by distillation) through the path the studio and the CLI take:
the registry's rsd spec (SinSR's network with one noise plane more in its input, SinSR's diffusion,
one trailing step) reproduces the case made by RSD's sampling on SinSR's code
(fixtures/resshift_reference/sample_rsd_one_step, random weights) to 1e-4."""
from dataclasses import replace

import numpy as np
import pytest
import torch

import resshift.diffusion.sampler as sampler
from resshift.catalog import find_model
from resshift.diffusion import DiffusionConfig, SamplerNoise
from resshift.media.image import from_model_output
from resshift.loader import RestorationModel, build_networks
from resshift.models import NoiseInputSwinUNet, VQAutoencoder
from resshift.pipelines import RestoreOptions, super_resolve
from resshift.pipelines.restore import run_model
from resshift.weights import check_layout, load_into, load_state_dict

from tests.helpers import fixture_json, fixture_tensors

CASE = "sample_rsd_one_step"


@pytest.fixture(scope="module")
def rsd(tmp_path_factory) -> RestorationModel:
    """The registry's rsd spec with the fixture's (small) networks; its diffusion, sampling settings
    and architectures are the registry's own."""
    cfg = fixture_json(CASE)
    spec = find_model("rsd")
    assert spec.diffusion == DiffusionConfig.from_official(cfg["diffusion"])  # 15 steps, kappa 2, 0.04
    spec = replace(spec, unet_params=cfg["config"], first_stage_params=cfg["vq_config"])
    unet, vq = build_networks(spec)
    assert isinstance(unet, NoiseInputSwinUNet) and isinstance(vq, VQAutoencoder)
    weights = fixture_tensors(CASE, "weights")
    # RSD's EMA state dict is a flat .pth whose keys may carry DDP's `module.` prefix: loaded strictly
    ema = tmp_path_factory.mktemp("rsd") / "ema_model_2800.pth"
    torch.save({"module." + k[5:]: v for k, v in weights.items() if k.startswith("unet.")}, ema)
    load_into(unet, load_state_dict(ema))
    load_into(vq, {k[3:]: v for k, v in weights.items() if k.startswith("vq.")})
    return RestorationModel(spec, unet, vq)


@pytest.fixture
def fixture_noise(monkeypatch):
    """The noise RSD's code drew (its prior and its noise plane) in place of the seed's: the first
    draw of a run is the sampler's usual one (its first tensor the prior), the second the plane."""
    io = fixture_tensors(CASE, "io")
    real = sampler._draw_all
    calls = []

    def draw(shape, count, generator, device, **kwargs):
        drawn = real(shape, count, generator, device, **kwargs).clone()
        calls.append(tuple(shape))
        if len(calls) % 2 == 1:  # each run draws twice: the usual draw, then the plane
            drawn[0] = io["prior_noise"][0]
        else:
            assert tuple(shape) == tuple(io["noise_input"].shape)  # (1, 1, h, w) at the LR size
            drawn[0] = io["noise_input"]
        return drawn

    monkeypatch.setattr(sampler, "_draw_all", draw)
    return io


def test_the_first_convolution_takes_seven_planes_and_the_rest_is_sinsrs():
    spec, sinsr = find_model("rsd"), find_model("sinsr")
    assert (spec.network, sinsr.network) == ("swin-unet-noise", "swin-unet")
    with torch.device("meta"):
        unet, _ = build_networks(spec)
        plain, _ = build_networks(sinsr)
    ours, theirs = unet.state_dict(), plain.state_dict()
    assert ours.keys() == theirs.keys()
    assert tuple(ours["input_blocks.0.0.weight"].shape) == (160, 7, 3, 3)
    assert [k for k in ours if ours[k].shape != theirs[k].shape] == ["input_blocks.0.0.weight"]


def test_the_fixture_weights_fit_the_layout_strictly(rsd):
    weights = fixture_tensors(CASE, "weights")
    check_layout({k[5:]: v for k, v in weights.items() if k.startswith("unet.")}, rsd.unet, name="rsd")


def test_default_options_are_one_trailing_step_at_the_last_timestep(rsd):
    options = RestoreOptions().resolve(rsd.spec)
    assert (options.steps, options.spacing, options.kappa) == (1, "trailing", 2.0)
    assert rsd.schedule(options.steps, options.kappa, options.spacing).timesteps == (14,)


def test_the_sampler_with_explicit_noise_reproduces_rsd(rsd):
    io = fixture_tensors(CASE, "io")
    options = RestoreOptions().resolve(rsd.spec)
    schedule = rsd.schedule(options.steps, options.kappa, options.spacing)
    out = sampler.sample(rsd.unet, io["y"], schedule, rsd.spec.diffusion, first_stage=rsd.first_stage,
                         noise=SamplerNoise(io["prior_noise"], [], inputs=io["noise_input"]))
    assert (out - io["out"]).abs().max().item() < 1e-4
    with pytest.raises(ValueError, match="noise planes"):
        sampler.sample(rsd.unet, io["y"], schedule, rsd.spec.diffusion, first_stage=rsd.first_stage,
                       noise=SamplerNoise(io["prior_noise"], []))


def test_the_studio_path_reproduces_rsd(rsd, fixture_noise):
    io = fixture_noise
    run = run_model(rsd, io["y"], RestoreOptions(seed=0))  # the model's defaults, as the studio's
    assert run.schedule.timesteps == (14,) and run.tiles == 1
    assert (run.image - io["out"]).abs().max().item() < 1e-4
    lq = ((io["y"][0].permute(1, 2, 0) + 1) / 2).numpy()
    result = super_resolve(rsd, lq, RestoreOptions(seed=0))  # the whole pipeline, as the CLI runs it
    expected = from_model_output(io["out"].clamp(-1, 1))
    assert result.steps == 1 and result.timesteps == (14,)
    assert np.abs(result.image.astype(int) - expected.astype(int)).max() <= 1


def test_a_seed_gives_sinsr_and_rsd_the_same_prior_then_rsd_its_plane(rsd):
    """Noise for seed S: the sampler's usual draw (the prior first), then the plane (1, 1, h, w)."""
    io = fixture_tensors(CASE, "io")
    y = io["y"]
    options = RestoreOptions().resolve(rsd.spec)
    schedule = rsd.schedule(options.steps, options.kappa, options.spacing)
    generator = torch.Generator().manual_seed(7)
    got = sampler.sample(rsd.unet, y, schedule, rsd.spec.diffusion, first_stage=rsd.first_stage, generator=generator)
    again = torch.Generator().manual_seed(7)
    z_shape = (1, 3, *y.shape[-2:])
    drawn = torch.randn((2, *z_shape), generator=again)  # prior + the (unused) step noise
    plane = torch.randn((1, 1, *y.shape[-2:]), generator=again)
    want = sampler.sample(rsd.unet, y, schedule, rsd.spec.diffusion, first_stage=rsd.first_stage,
                          noise=SamplerNoise(drawn[0], drawn[1:], inputs=plane))
    assert torch.equal(got, want)


def test_tiles_cut_one_noise_plane_like_the_prior(rsd):
    """With tiling the plane is one field over the whole image, drawn after the prior from the
    run's generator, and each Swin-UNet tile sees its own crop of it (as it sees its crop of x_t)."""
    from resshift.pipelines.stages import restore_in_stages

    y = torch.rand(1, 3, 32, 48) * 2 - 1
    seen = []
    real_forward = rsd.unet.forward

    def forward(x, t, cond=None, **kwargs):
        seen.append(cond.features[:, -1:].clone())  # the noise plane: the input's last plane
        return real_forward(x, t, cond=cond, **kwargs)

    options = RestoreOptions().resolve(rsd.spec)
    schedule = rsd.schedule(options.steps, options.kappa, options.spacing)
    rsd.unet.forward = forward
    try:
        restore_in_stages(rsd.unet, rsd.first_stage, y, schedule, rsd.spec.diffusion, stage_tile=0, unet_tile=16,
                          overlap=4, generator=torch.Generator().manual_seed(5), precision="fp32")
    finally:
        del rsd.unet.forward
    again = torch.Generator().manual_seed(5)
    torch.randn((2, 1, 3, 32, 48), generator=again)  # the sampler's usual draw: prior + one step
    plane = torch.randn((1, 1, 32, 48), generator=again)
    assert len(seen) > 1
    for crop in seen:
        h, w = crop.shape[-2:]
        assert any(torch.equal(crop, plane[..., i:i + h, j:j + w]) for i in range(33 - h) for j in range(49 - w))


def test_more_steps_are_offered_up_to_the_trained_fifteen(rsd):
    assert RestoreOptions(steps=15).resolve(rsd.spec).steps == 15
    with pytest.raises(ValueError, match="between 1 and 15 for rsd"):
        RestoreOptions(steps=16).resolve(rsd.spec)
    run = run_model(rsd, torch.zeros(1, 3, 16, 32), RestoreOptions(seed=1, steps=4))
    assert run.schedule.timesteps == (3, 7, 10, 14)
