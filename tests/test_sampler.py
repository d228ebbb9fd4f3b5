"""The shared sampler reproduces the official sampler and keeps no state between calls."""
import threading

import pytest
import torch

from resshift.diffusion import DiffusionConfig, SamplerNoise, Schedule, iter_sample, sample
from resshift.models import SwinUNet, VQAutoencoder
from resshift.weights import load_into

from tests.helpers import fixture_json, fixture_tensors


def _load(name):
    cfg = fixture_json(name)
    weights = fixture_tensors(name, "weights")
    unet = SwinUNet(**cfg["config"]).eval()
    vq = VQAutoencoder(**cfg["vq_config"]).eval()
    load_into(unet, {k[5:]: v for k, v in weights.items() if k.startswith("unet.")})
    load_into(vq, {k[3:]: v for k, v in weights.items() if k.startswith("vq.")})
    return cfg, unet, vq, DiffusionConfig.from_official(cfg["diffusion"])


@pytest.mark.parametrize("name", ["sample_sr", "sample_sr_respaced", "sample_inpaint"])
def test_sampler_reproduces_official(name):
    cfg, unet, vq, diffusion = _load(name)
    io = fixture_tensors(name, "io")
    schedule = Schedule.create(diffusion, steps=cfg["diffusion"]["timestep_respacing"], spacing="leading")
    assert list(schedule.timesteps) == cfg["timestep_map"]
    kwargs = {"lq": io["y"], "mask": io["mask"]} if "mask" in io else None
    steps = []
    out = sample(unet, io["y"], schedule, diffusion, first_stage=vq, model_kwargs=kwargs,
                 noise=SamplerNoise(io["prior_noise"], list(io["step_noises"])), callback=steps.append)
    assert len(steps) == schedule.num_steps
    for i, step in enumerate(steps):
        assert step.index == i and step.total == schedule.num_steps
        assert (step.x0_pred - io["pred_xstart"][i]).abs().max().item() < 1e-4
        assert (step.x_t - io["samples"][i]).abs().max().item() < 1e-4
    assert out.shape == io["out"].shape
    assert (out - io["out"]).abs().max().item() < 1e-4


@pytest.fixture(scope="module")
def sr_model():
    return _load("sample_sr")


def test_generator_makes_runs_reproducible(sr_model):
    _, unet, vq, diffusion = sr_model
    y = torch.rand(1, 3, 16, 16) * 2 - 1
    schedule = Schedule.create(diffusion)
    run = lambda seed: sample(unet, y, schedule, diffusion, first_stage=vq,  # noqa: E731
                              generator=torch.Generator().manual_seed(seed))
    a, b, c = run(1), run(1), run(2)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_every_step_count_and_spacing_runs(sr_model):
    _, unet, vq, diffusion = sr_model
    y = torch.rand(1, 3, 16, 16) * 2 - 1
    for spacing in ("leading", "trailing"):
        for n in range(1, diffusion.steps + 1):
            schedule = Schedule.create(diffusion, steps=n, spacing=spacing)
            steps = list(iter_sample(unet, y, schedule, diffusion, first_stage=vq,
                                     generator=torch.Generator().manual_seed(0)))
            assert [s.index for s in steps] == list(range(n))
            assert [s.t for s in steps] == list(schedule.timesteps[::-1])
            # the last step's sample is the x0 prediction (no noise is added at t = 1)
            assert torch.allclose(steps[-1].x_t, steps[-1].x0_pred, atol=1e-6)


def test_one_step_trailing_starts_from_true_prior(sr_model):
    _, unet, vq, diffusion = sr_model
    y = torch.rand(1, 3, 16, 16) * 2 - 1
    seen = {}

    def spy(x, t, **kw):
        seen["t"] = t.tolist()
        return unet(x, t, **kw)

    schedule = Schedule.create(diffusion, steps=1, spacing="trailing")
    list(iter_sample(spy, y, schedule, diffusion, first_stage=vq, generator=torch.Generator().manual_seed(0)))
    assert seen["t"] == [diffusion.steps - 1]


def test_kappa_changes_the_result(sr_model):
    _, unet, vq, diffusion = sr_model
    y = torch.rand(1, 3, 16, 16) * 2 - 1
    outs = [sample(unet, y, Schedule.create(diffusion, kappa=k), diffusion, first_stage=vq,
                   generator=torch.Generator().manual_seed(0)) for k in (0.5, 4.0)]
    assert not torch.allclose(outs[0], outs[1])


def test_concurrent_calls_share_one_model(sr_model):
    """Two threads with different inputs and seeds get the same results as sequential runs."""
    _, unet, vq, diffusion = sr_model
    ys = [torch.rand(1, 3, 16, 16) * 2 - 1, torch.rand(1, 3, 32, 16) * 2 - 1]
    schedule = Schedule.create(diffusion)
    run = lambda i: sample(unet, ys[i], schedule, diffusion, first_stage=vq,  # noqa: E731
                           generator=torch.Generator().manual_seed(i))
    expected = [run(0), run(1)]
    results = [None, None]

    def work(i):
        for _ in range(3):
            results[i] = run(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(2):
        assert torch.equal(results[i], expected[i])


def test_pixel_space_clips_x0():
    cfg = fixture_json("unet_sr")["config"]
    unet = SwinUNet(**cfg).eval()
    with torch.no_grad():
        unet.out[2].bias.fill_(5.0)  # push predictions far outside [-1, 1]
    diffusion = DiffusionConfig(sf=1, latent=False)
    y = torch.rand(1, 3, 16, 16) * 2 - 1
    steps = list(iter_sample(unet, y, Schedule.create(diffusion), diffusion, first_stage=None,
                             generator=torch.Generator().manual_seed(0)))
    assert all(s.x0_pred.abs().max() <= 1.0 for s in steps)


def test_explicit_noise_shape_is_checked(sr_model):
    _, unet, vq, diffusion = sr_model
    y = torch.rand(1, 3, 16, 16) * 2 - 1
    with pytest.raises(ValueError, match="prior noise"):
        sample(unet, y, Schedule.create(diffusion), diffusion, first_stage=vq,
               noise=SamplerNoise(torch.zeros(1, 3, 8, 8), [torch.zeros(1, 3, 8, 8)] * 4))


def test_condition_is_computed_once_per_call(sr_model, monkeypatch):
    """The lq features do not depend on x_t or t: one computation serves every step, same result."""
    _, unet, vq, diffusion = sr_model
    y = torch.rand(1, 3, 16, 16) * 2 - 1
    calls = []
    real = unet.condition
    monkeypatch.setattr(unet, "condition", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    once = sample(unet, y, Schedule.create(diffusion), diffusion, first_stage=vq,
                  generator=torch.Generator().manual_seed(3))
    assert len(calls) == 1
    per_step = sample(lambda x, t, **kw: unet.forward(x, t, **kw), y, Schedule.create(diffusion), diffusion,
                      first_stage=vq, model_kwargs={"lq": y}, generator=torch.Generator().manual_seed(3))
    assert len(calls) == 1 + diffusion.steps  # the plain callable recomputes it at every step
    assert torch.equal(once, per_step)
