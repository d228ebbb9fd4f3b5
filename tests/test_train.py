"""resshift.train: the ResShift objective, a short CPU run, resume and the fp16 export."""
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from resshift.diffusion import DiffusionConfig, SamplerNoise, Schedule, iter_sample
from resshift.models import PixelUnshuffleStage, SwinUNet
from resshift.train import (
    ResShiftObjective, TrainConfig, Trainer, TrainingPair, average_exports, export_fp16, input_scale,
    learning_rate, load_checkpoint, resolve_spec, train,
)
from resshift.train.evaluate import evaluate
from resshift.train.tasks import make_task

DATA = Path(__file__).parent / "data" / "natural"
TINY_UNET = {"model_channels": 32, "channel_mult": [1, 2], "num_res_blocks": [1, 1],
             "attention_resolutions": [8], "swin_embed_dim": 32, "image_size": 16, "lq_size": 16}


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_config(tmp_path: Path, **changes) -> TrainConfig:
    params = dict(
        task="sr", data_dir=str(DATA), out_dir=str(tmp_path / "run"), unet=TINY_UNET, crop_size=64,
        batch_size=2, num_workers=0, iterations=8, warmup_steps=2, lr=2e-3, log_every=2, val_every=0,
        ckpt_every=0, seed=0, degradation={"resize_range": [0.5, 1.5]},
    )
    params.update(changes)
    return TrainConfig(**params)


# -- the objective -----------------------------------------------------------------------------
@pytest.mark.parametrize("latent", [True, False])
def test_input_scale_matches_the_sampler(latent):
    """The network sees x_t scaled exactly as the sampler scales it."""
    config = DiffusionConfig(sf=1, latent=latent)
    schedule = Schedule.create(config)
    seen = []

    def model(x, t, **kwargs):
        seen.append((x.clone(), int(t[0])))
        return torch.zeros_like(x)

    g = torch.Generator().manual_seed(0)
    y = torch.rand(1, 3, 8, 8, generator=g) * 2 - 1
    noise = SamplerNoise(prior=torch.randn(1, 3, 8, 8, generator=g),
                         steps=[torch.randn(1, 3, 8, 8, generator=g) for _ in range(3)])
    list(iter_sample(model, y, schedule, config, noise=noise, model_kwargs={}))
    x_T = y + schedule.kappa * float(schedule.sqrt_etas[-1]) * noise.prior
    etas = torch.tensor(schedule.etas, dtype=torch.float32)
    expected = x_T * input_scale(etas, schedule.kappa, config)[-1]
    torch.testing.assert_close(seen[0][0], expected, rtol=1e-5, atol=1e-6)
    assert seen[0][1] == config.steps - 1


def test_input_scale_formulas():
    etas = torch.tensor([0.01, 0.25, 1.0])
    pixel = input_scale(etas, 2.0, DiffusionConfig(latent=False))
    torch.testing.assert_close(pixel, 1 / (3 * 2.0 * etas.sqrt() + 1))
    latent = input_scale(etas, 2.0, DiffusionConfig(latent=True))
    torch.testing.assert_close(latent, 1 / torch.sqrt(4 * etas + 1))
    assert torch.equal(input_scale(etas, 2.0, DiffusionConfig(normalize_input=False)), torch.ones(3))


def test_diffuse_follows_the_schedule():
    config = DiffusionConfig(sf=4, latent=False)
    obj = ResShiftObjective(config, PixelUnshuffleStage(4))
    etas = Schedule.create(config).etas
    assert obj.num_timesteps == 4
    z0, zy, noise = torch.zeros(4, 1, 1, 1), torch.ones(4, 1, 1, 1), torch.zeros(4, 1, 1, 1)
    x = obj.diffuse(z0, zy, torch.arange(4), noise)
    np.testing.assert_allclose(x.flatten().numpy(), etas, rtol=1e-6)  # x_t = eta_t without noise
    x = obj.diffuse(z0[:1], z0[:1], torch.tensor([3]), torch.ones(1, 1, 1, 1))
    assert abs(float(x) - 2.0 * np.sqrt(etas[3])) < 1e-5  # kappa sqrt(eta_T)


def test_latents_are_the_sampler_encodings():
    config = DiffusionConfig(sf=4, latent=False)
    obj = ResShiftObjective(config, PixelUnshuffleStage(4))
    x0 = torch.rand(2, 3, 32, 32) * 2 - 1
    y0 = torch.rand(2, 3, 8, 8) * 2 - 1
    z0, zy = obj.latents(TrainingPair(x0, y0, {}))
    assert z0.shape == zy.shape == (2, 48, 8, 8)
    assert torch.equal(z0, torch.nn.functional.pixel_unshuffle(x0, 4))
    up = torch.nn.functional.interpolate(y0, scale_factor=4, mode="bicubic")
    torch.testing.assert_close(zy, torch.nn.functional.pixel_unshuffle(up, 4))
    with pytest.raises(ValueError, match="must be x0's size / sf"):
        obj.latents(TrainingPair(x0, x0, {}))



def test_timestep_probs_draw_the_steps_asked_for():
    """Uniform by default; with timestep_probs the draw follows them (a step given 0 never comes)."""
    config = DiffusionConfig(sf=4, latent=False)
    uniform = ResShiftObjective(config, PixelUnshuffleStage(4))
    t = uniform.draw_timesteps(4000, torch.Generator().manual_seed(0))
    assert set(t.tolist()) == {0, 1, 2, 3}
    biased = ResShiftObjective(config, PixelUnshuffleStage(4), timestep_probs=[0, 1, 1, 6])
    t = biased.draw_timesteps(4000, torch.Generator().manual_seed(0))
    counts = torch.bincount(t, minlength=4).tolist()
    assert counts[0] == 0 and 0.7 < counts[3] / 4000 < 0.8, counts
    for bad in ([1, 1, 1], [0, 0, 0, 0], [1, -1, 1, 1]):
        with pytest.raises(ValueError, match="timestep_probs"):
            ResShiftObjective(config, PixelUnshuffleStage(4), timestep_probs=bad)


def test_focus_weight_adds_the_per_image_error_inside_the_focus():
    """loss = MSE + w * mean over images of the MSE inside each image's focus region, so an image
    with a small hole weighs as much as one with a large hole; without a focus it is the plain MSE."""
    config = DiffusionConfig(sf=1, latent=False)
    x0 = torch.zeros(2, 3, 16, 16)
    focus = torch.zeros(2, 1, 16, 16)
    focus[0, :, :4, :4] = 1  # one latent position (4x4 pixels) of image 0
    focus[1, :, :8, :] = 1  # half of image 1
    error = torch.zeros(2, 48, 4, 4)
    error[0, :, 0, 0] = 3.0  # image 0 is wrong only inside its hole, by 3
    error[1, :, :2, :] = 1.0  # image 1 is wrong inside its hole, by 1

    def model(x, t, **kwargs):
        return error

    pair = TrainingPair(x0, x0, {}, focus=focus)
    t, noise = torch.zeros(2, dtype=torch.long), torch.zeros(2, 48, 4, 4)
    plain = ResShiftObjective(config, PixelUnshuffleStage(4)).loss(model, pair, None, t=t, noise=noise)
    mse = float((error ** 2).mean())
    assert abs(float(plain) - mse) < 1e-6
    focused = ResShiftObjective(config, PixelUnshuffleStage(4), focus_weight=0.5)
    loss = focused.loss(model, pair, None, t=t, noise=noise)
    assert abs(float(loss) - (mse + 0.5 * (9.0 + 1.0) / 2)) < 1e-5
    no_focus = focused.loss(model, TrainingPair(x0, x0, {}), None, t=t, noise=noise)
    assert abs(float(no_focus) - mse) < 1e-6
    empty = focused.loss(model, TrainingPair(x0, x0, {}, focus=torch.zeros_like(focus)), None, t=t, noise=noise)
    assert abs(float(empty) - mse) < 1e-6
    with pytest.raises(ValueError, match="focus_weight"):
        ResShiftObjective(config, PixelUnshuffleStage(4), focus_weight=-1)

def test_learning_rate_schedule(tmp_path):
    cfg = tiny_config(tmp_path, lr=1e-3, lr_min_ratio=0.1, warmup_steps=10, iterations=110)
    assert learning_rate(cfg, 0, 0) == pytest.approx(1e-4)
    assert learning_rate(cfg, 9, 0) == pytest.approx(1e-3)
    assert learning_rate(cfg, 60, 0) == pytest.approx(0.55e-3)
    assert learning_rate(cfg, 110, 0) == pytest.approx(1e-4)
    timed = replace(cfg, time_budget_s=100.0)
    assert learning_rate(timed, 10, 100.0) == pytest.approx(1e-4)  # the budget is spent: annealed
    assert learning_rate(timed, 10, 50.0) == pytest.approx(0.55e-3)


# -- training ---------------------------------------------------------------------------------
def _fixed_pair(config: TrainConfig) -> TrainingPair:
    task = make_task("sr", config.degradation, seed=123, device=torch.device("cpu"))
    from resshift.data import CropConfig, ImageFolder

    ds = ImageFolder(DATA, CropConfig(64, mode="center", hflip=False), seed=9, transform=task.transform)
    samples = [ds[i] for i in range(4)]
    batch = {k: torch.stack([s[k] for s in samples]) for k in ("gt", "kernel1", "kernel2", "sinc_kernel")}
    return task.pair(batch, torch.device("cpu"))


def test_short_training_lowers_the_loss(tmp_path):
    # from scratch (no lq_residual), so the drop is large and cannot flake
    config = tiny_config(tmp_path, iterations=30, batch_size=4, log_every=5, unet={**TINY_UNET, "lq_residual": 0})
    trainer = Trainer(config)
    pair = _fixed_pair(config)
    before = trainer.objective.evaluate(trainer.unet, pair, seed=0)
    summary = trainer.run()
    after = trainer.objective.evaluate(trainer.unet, pair, seed=0)
    ema_after = trainer.objective.evaluate(trainer.ema.model, pair, seed=0)
    assert summary["iterations"] == 30 and summary["stopped_by"] == "iterations"
    assert after < 0.6 * before, (before, after)
    assert ema_after < before
    records = [json.loads(line) for line in (Path(config.out_dir) / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if r["kind"] == "train"]
    assert len(losses) == 6 and np.mean(losses[-2:]) < np.mean(losses[:2])


def test_lq_residual_starts_from_the_input(tmp_path):
    """With lq_residual (the lite models' parameterisation) an untrained network already predicts
    the low-quality input, so its loss starts far below a plain network's."""
    losses = {}
    for residual in (0, 4):
        config = tiny_config(tmp_path / str(residual), unet={**TINY_UNET, "lq_residual": residual})
        trainer = Trainer(config)
        losses[residual] = trainer.objective.evaluate(trainer.unet, _fixed_pair(config), seed=0)
    assert losses[4] < 0.5 * losses[0], losses


def test_resume_continues_exactly(tmp_path):
    straight = tiny_config(tmp_path / "a", iterations=6)
    train(straight)
    split = tiny_config(tmp_path / "b", iterations=6)
    first = Trainer(split).run(max_steps=4)
    assert first["stopped_by"] == "max_steps" and first["iterations"] == 4
    resumed = Trainer(split)
    assert resumed.step == 4
    assert resumed.run()["iterations"] == 6
    a = load_checkpoint(Path(straight.out_dir) / "checkpoint.pt")
    b = load_checkpoint(Path(split.out_dir) / "checkpoint.pt")
    assert a["step"] == b["step"] == 6
    for key in ("model", "ema"):
        for name, value in a[key].items():
            assert torch.equal(value, b[key][name]), (key, name)
    assert set(b["rng"]) == {"train", "sr_noise", "sr_choices"}


def test_resume_refuses_another_architecture(tmp_path):
    config = tiny_config(tmp_path, iterations=2)
    train(config)
    other = replace(config, unet={**TINY_UNET, "model_channels": 64})
    with pytest.raises(ValueError, match="other Swin-UNet parameters"):
        Trainer(other)


def test_export_fp16_loads_strictly(tmp_path):
    config = tiny_config(tmp_path, iterations=3, val_dir=str(DATA), val_images=2,
                         export_path=str(tmp_path / "lite.safetensors"))
    summary = train(config)
    assert summary["val_psnr"] is not None and np.isfinite(summary["val_psnr"])
    ckpt = load_checkpoint(Path(config.out_dir) / "checkpoint.pt")
    out = export_fp16(ckpt, tmp_path / "again.safetensors")
    spec = resolve_spec(config)
    unet = SwinUNet(**spec.unet_params)
    state = load_file(str(out))
    missing, unexpected = unet.load_state_dict(state, strict=True)
    assert not missing and not unexpected
    for name, value in ckpt["ema"].items():
        expected = value.half() if value.is_floating_point() else value
        assert torch.equal(state[name], expected), name
    assert all(v.dtype in (torch.float16, torch.int64) for v in state.values())
    with safe_open(str(out), "pt") as f:
        meta = f.metadata()
    assert meta["model"] == "lite-sr" and meta["step"] == "3"
    assert json.loads(meta["unet_params"])["model_channels"] == 32
    in_loop = load_file(config.export_path)  # the copy written by the trainer itself
    assert all(torch.equal(in_loop[k], state[k]) for k in state)
    result = evaluate_config(tmp_path, config, out)
    assert result["images"] == 2 and np.isfinite(result["psnr"])


def test_init_from_fine_tunes_exported_weights(tmp_path):
    first = tiny_config(tmp_path / "a", iterations=3, export_path=str(tmp_path / "a.safetensors"))
    train(first)
    exported = load_file(first.export_path)
    for source in (first.export_path, str(Path(first.out_dir) / "checkpoint.pt")):
        tuned = Trainer(tiny_config(tmp_path / "b", iterations=2, init_from=source))
        for name, value in tuned.unet.state_dict().items():  # model and EMA start from the file
            assert torch.allclose(value, exported[name].to(value.dtype), atol=1e-3), name
            assert torch.equal(tuned.ema.state_dict()[name], value), name
    with pytest.raises(ValueError, match="does not fit"):
        Trainer(tiny_config(tmp_path / "c", unet={**TINY_UNET, "model_channels": 64}, init_from=first.export_path))
    with pytest.raises(FileNotFoundError, match="init_from"):
        Trainer(tiny_config(tmp_path / "d", init_from=str(tmp_path / "nope.safetensors")))
    # a new residual base or conditioning: the output convolution restarts at zero, the rest is kept
    reset = Trainer(tiny_config(tmp_path / "e", iterations=2, init_from=first.export_path, init_zero_output=True))
    for name, value in reset.unet.state_dict().items():
        if name.startswith("out.2."):
            assert not value.any() and not reset.ema.state_dict()[name].any(), name
        else:
            assert torch.allclose(value, exported[name].to(value.dtype), atol=1e-3), name


def evaluate_config(tmp_path, config, weights):
    import yaml

    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config.to_dict()))
    return evaluate(path, weights)


def test_time_budget_stops_and_saves(tmp_path):
    config = tiny_config(tmp_path, iterations=10_000, time_budget_s=0.5,
                         export_path=str(tmp_path / "lite.safetensors"))
    summary = train(config)
    assert summary["stopped_by"] == "time_budget"
    assert 1 <= summary["iterations"] < 10_000
    assert (tmp_path / "lite.safetensors").is_file()
    saved = json.loads((Path(config.out_dir) / "summary.json").read_text())
    assert saved["iterations"] == summary["iterations"] and saved["stopped_by"] == "time_budget"


@pytest.mark.parametrize("task,unet,crop", [
    ("inpaint", {**TINY_UNET, "lq_size": 64, "cond_mask": True}, 64),
    ("face", {**TINY_UNET, "lq_size": 128}, 128),
])
def test_inpaint_and_face_runs(tmp_path, task, unet, crop):
    config = tiny_config(tmp_path, task=task, unet=unet, crop_size=crop, iterations=2, degradation={},
                         crop_mode="resize" if task == "face" else "crop", val_dir=str(DATA), val_images=2)
    summary = train(config)
    assert summary["iterations"] == 2 and np.isfinite(summary["final_loss"])
    assert np.isfinite(summary["val_psnr"])


def test_config_takes_the_objective_options(tmp_path):
    config = tiny_config(tmp_path, task="inpaint", unet={**TINY_UNET, "lq_size": 64, "cond_mask": True},
                         crop_size=64, iterations=2, degradation={}, timestep_probs=[0, 0, 1, 3], focus_weight="1.5")
    assert config.timestep_probs == (0.0, 0.0, 1.0, 3.0) and config.focus_weight == 1.5
    trainer = Trainer(config)
    assert trainer.objective.focus_weight == 1.5
    torch.testing.assert_close(trainer.objective.timestep_probs, torch.tensor([0, 0, 0.25, 0.75]))
    summary = train(config)
    assert summary["iterations"] == 2 and np.isfinite(summary["final_loss"])
    for bad in ({"timestep_probs": [0, 0]}, {"timestep_probs": [1, -1]}, {"focus_weight": -0.1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            tiny_config(tmp_path, **bad)


def test_task_pairs_follow_the_sampler_conventions():
    from resshift.data import CropConfig, ImageFolder

    task = make_task("inpaint", {"area_range": [0.2, 0.4]}, seed=0, device=torch.device("cpu"))
    ds = ImageFolder(DATA, CropConfig(32), seed=0, transform=task.transform)
    batch = {k: torch.stack([ds[i][k] for i in range(2)]) for k in ("gt", "mask")}
    pair = task.pair(batch, torch.device("cpu"))
    mask = pair.model_kwargs["mask"]
    assert set(mask.unique().tolist()) == {-1.0, 1.0}
    missing = mask > 0
    assert bool((pair.y0[missing.expand_as(pair.y0)] == -1).all())
    assert torch.equal(pair.y0[~missing.expand_as(pair.y0)], pair.x0[~missing.expand_as(pair.x0)])
    assert pair.model_kwargs["lq"] is pair.y0
    assert torch.equal(pair.focus, missing.float())  # the holes: what focus_weight stresses


def test_diverged_weights_are_not_saved(tmp_path):
    config = tiny_config(tmp_path, iterations=2, export_path=str(tmp_path / "lite.safetensors"))
    trainer = Trainer(config)
    trainer.run()
    good = (tmp_path / "lite.safetensors").read_bytes()
    with torch.no_grad():
        next(trainer.ema.model.parameters()).fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="non-finite EMA weights"):
        trainer.save()
    assert (tmp_path / "lite.safetensors").read_bytes() == good


def test_initialisation_is_seeded_and_starts_blocks_at_identity():
    from resshift.train.init import initialize

    spec = resolve_spec(TrainConfig(task="sr", data_dir="x", unet=TINY_UNET))
    a = initialize(SwinUNet(**spec.unet_params), torch.Generator().manual_seed(1))
    b = initialize(SwinUNet(**spec.unet_params), torch.Generator().manual_seed(1))
    c = initialize(SwinUNet(**spec.unet_params), torch.Generator().manual_seed(2))
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["input_blocks.0.0.weight"], sc["input_blocks.0.0.weight"])
    assert float(a.out[-1].weight.detach().abs().max()) == 0.0
    lq = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        out = a(torch.randn(1, 48, 16, 16), torch.tensor([1]), lq=lq)
    # the x0 prediction starts at the input: pixel_unshuffle(bicubic x4 of lq) (lq_residual = 4)
    base = torch.nn.functional.pixel_unshuffle(
        torch.nn.functional.interpolate(lq, scale_factor=4, mode="bicubic", align_corners=False), 4)
    assert torch.allclose(out, base, atol=1e-6)


def test_average_exports_is_the_parameter_mean(tmp_path, capsys):
    from resshift.train.cli import average_main

    runs = []
    for seed in (1, 2):
        config = tiny_config(tmp_path / f"run{seed}", iterations=2, seed=seed,
                             export_path=str(tmp_path / f"run{seed}.safetensors"))
        train(config)
        runs.append(Path(config.export_path))
    out = average_exports(runs, tmp_path / "soup.safetensors")
    a, b, mean = (load_file(str(p)) for p in (*runs, out))
    assert mean.keys() == a.keys()
    floats = [k for k in a if a[k].is_floating_point()]
    assert floats and any(not torch.equal(a[k], b[k]) for k in floats)  # two different runs
    for name in a:
        expected = ((a[name].float() + b[name].float()) / 2).half() if name in floats else a[name]
        assert torch.equal(mean[name], expected), name
    missing, unexpected = SwinUNet(**resolve_spec(config).unet_params).load_state_dict(mean, strict=True)
    assert not missing and not unexpected  # loads like an export
    with safe_open(str(out), "pt") as f:
        meta = f.metadata()
    assert meta["weights"] == "average" and json.loads(meta["steps"]) == [2, 2] and "step" not in meta
    assert meta["model"] == "lite-sr"

    assert average_main([str(runs[0]), str(runs[1]), str(tmp_path / "cli.safetensors")]) == 0
    assert "the mean of 2" in capsys.readouterr().out
    assert torch.equal(load_file(str(tmp_path / "cli.safetensors"))[floats[0]], mean[floats[0]])


def test_average_exports_refuses_files_that_do_not_match(tmp_path):
    from safetensors.torch import save_file

    one = tmp_path / "one.safetensors"
    save_file({"w": torch.ones(2, 2, dtype=torch.float16)}, str(one), metadata={"model": "lite-sr"})
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.ones(3, 2, dtype=torch.float16)}, str(other), metadata={"model": "lite-sr"})
    with pytest.raises(ValueError, match=r"w is \(3, 2\) in .*other"):
        average_exports([one, other], tmp_path / "out.safetensors")
    save_file({"v": torch.ones(2, 2, dtype=torch.float16)}, str(other), metadata={"model": "lite-sr"})
    with pytest.raises(ValueError, match="different tensors"):
        average_exports([one, other], tmp_path / "out.safetensors")
    save_file({"w": torch.ones(2, 2, dtype=torch.float16)}, str(other), metadata={"model": "lite-face"})
    with pytest.raises(ValueError, match="holds model 'lite-face'"):
        average_exports([one, other], tmp_path / "out.safetensors")
    with pytest.raises(ValueError, match="at least two"):
        average_exports([one], tmp_path / "out.safetensors")
    with pytest.raises(FileNotFoundError):
        average_exports([one, tmp_path / "missing.safetensors"], tmp_path / "out.safetensors")
    assert not (tmp_path / "out.safetensors").exists()
