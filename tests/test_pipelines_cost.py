"""The work estimate (resshift/pipelines/cost.py) against real runs: the tiles and network calls a
run makes, and the FLOP it counts, for thin, square and untiled inputs; and what it says about the
released models (the audit's thin images cost many times their pixels)."""
import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from resshift.pipelines import RestoreOptions, inpaint, super_resolve
from resshift.pipelines.cost import NetworkCost, equivalent_side, estimate_work, model_cost, square_side
from resshift.weights.lite import lite_model
from resshift.weights.registry import OFFICIAL_MODELS

from tests.helpers import tiny_model

OFFICIAL = {spec.name: spec for spec in OFFICIAL_MODELS}


@pytest.fixture(scope="module")
def sr():
    return tiny_model("sr")


@pytest.fixture(scope="module")
def inp():
    return tiny_model("inpaint", seed=1)


def _spy(module: torch.nn.Module, calls: list) -> torch.utils.hooks.RemovableHandle:
    return module.register_forward_pre_hook(lambda m, args: calls.append(tuple(args[0].shape[-2:])))


def _image(width: int, height: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def _run(model, size, options, mask=None):
    """A real run: (result, encoder/UNet/decoder input sizes per call, progress events, FLOP)."""
    calls = {"encode": [], "unet": [], "decode": []}
    hooks = [_spy(model.first_stage.encoder, calls["encode"]), _spy(model.unet, calls["unet"]),
             _spy(model.first_stage.decoder, calls["decode"])]
    events = []
    try:
        with FlopCounterMode(display=False) as counter:
            if mask is None:
                result = super_resolve(model, _image(*size), options, callback=events.append)
            else:
                result = inpaint(model, _image(*size), mask, options, callback=events.append)
    finally:
        for h in hooks:
            h.remove()
    return result, calls, events, counter.get_total_flops()


# (width, height), options: a thin strip, a square in tiles, a square in one call, an odd size with
# small tiles and a large overlap
CASES = [((3, 150), RestoreOptions(seed=1, steps=2, tile=32)),
         ((64, 64), RestoreOptions(seed=1, steps=1, tile=32, tile_overlap=8)),
         ((40, 24), RestoreOptions(seed=1, steps=2, tile=0)),
         ((70, 45), RestoreOptions(seed=1, steps=3, tile=16, tile_overlap=8))]


@pytest.mark.parametrize("size,options", CASES, ids=[f"{s[0]}x{s[1]}" for s, _ in CASES])
def test_the_estimate_is_the_run_super_resolution(sr, size, options):
    """Tiles, network calls (count and size) and FLOP of the estimate are those of the run."""
    result, calls, events, flops = _run(sr, size, options)
    est = estimate_work(sr.spec, size, options, device_type="cpu")
    assert result.tiles == est.tiles
    if est.grids is None:
        assert len(calls["unet"]) == options.steps and len(calls["encode"]) == len(calls["decode"]) == 1
        assert calls["encode"][0] == (est.padded[1] * 4, est.padded[0] * 4)  # x4 bicubic, then encoded
    else:
        g = est.grids
        assert len(calls["encode"]) == g.encode.tiles and len(calls["decode"]) == g.decode.tiles
        assert len(calls["unet"]) == options.steps * g.unet.tiles
        assert set(calls["encode"]) == {(g.encode.tile_height * 4, g.encode.tile_width * 4)}
        assert set(calls["unet"]) == {(g.unet.tile_height, g.unet.tile_width)}
        assert set(calls["decode"]) == {(g.decode.tile_height, g.decode.tile_width)}
        staged = (g.encode.tiles if g.encode.tiles > 1 else 0) + options.steps * g.unet.tiles + \
            (g.decode.tiles if g.decode.tiles > 1 else 0)
        assert len(events) == staged
    assert est.flops == pytest.approx(flops, rel=1e-9)


def test_the_estimate_is_the_run_inpainting(inp):
    """Inpainting: its own size multiple (64 px: the UNet's 16 latent px x the VQ's 4), the mask's
    condition, and the same FLOP as the run."""
    size, options = (150, 70), RestoreOptions(seed=1, steps=2, tile=64, tile_overlap=16)
    mask = np.zeros((70, 150), bool)
    mask[10:40, 20:90] = True
    result, calls, events, flops = _run(inp, size, options, mask=mask)
    est = estimate_work(inp.spec, size, options, device_type="cpu")
    assert est.padded == (192, 128) and est.input_multiple == 64
    assert result.tiles == est.tiles > 1 and len(calls["unet"]) == 2 * est.grids.unet.tiles
    assert est.flops == pytest.approx(flops, rel=1e-9)


def test_network_costs_are_exact_at_other_sizes(sr):
    """The fitted c + a n + b n^2 of each network is its FLOP count at a size it was not fitted
    on (not square, not a fitting size), counted on the real networks."""
    cost = model_cost(sr.spec)

    def counted(fn) -> int:
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            fn()
        return counter.get_total_flops()

    lq = torch.zeros(1, 3, 48, 80)
    cond = sr.unet.condition(lq)
    z = torch.zeros(1, 3, 48, 80)
    t = torch.zeros(1, dtype=torch.long)
    assert cost.unet.flops(48, 80) == pytest.approx(counted(lambda: sr.unet(z, t, cond=cond)), rel=1e-9)
    assert cost.encode.flops(192, 320) == pytest.approx(
        counted(lambda: sr.first_stage.encode(torch.zeros(1, 3, 192, 320))), rel=1e-9)
    assert cost.decode.flops(48, 80) == pytest.approx(counted(lambda: sr.first_stage.decode(z)), rel=1e-9)
    assert cost.decode.per_pixel_sq > 0  # the VQ's global mid-block attention: the square of the area
    assert cost.unet.per_pixel_sq == 0  # Swin windows: linear


def test_the_estimate_sees_the_sizes_the_networks_work_in(sr, inp):
    """The geometry counted from a spec (networks built without memory) is the loaded model's."""
    from resshift.pipelines.restore import model_geometry

    for model in (sr, inp):
        geometry = model_cost(model.spec).geometry
        assert geometry == model_geometry(model) and geometry.input_multiple == model.input_multiple


def test_network_cost_fit_recovers_a_quadratic():
    truth = NetworkCost(7.0, 3.0, 0.5)
    points = [(n, truth.flops(n, 1)) for n in (16, 64, 144)]
    assert NetworkCost.fit(points) == truth


def test_the_audit_thin_images_cost_many_times_their_pixels():
    """realsr-v3 on CPU: a 4x16384 strip (65,536 pixels, a quarter of the 512x512 limit) is
    sampled as 64x16384, in 147 tiles, and costs more than 14 times a 256x256 image (as many
    pixels); 1x5000 costs as much as a 512x512 image."""
    spec = OFFICIAL["realsr-v3"]
    thin = estimate_work(spec, (4, 16384), device_type="cpu")
    square = estimate_work(spec, (256, 256), device_type="cpu")
    assert thin.padded == (64, 16384) and thin.padding == 16 and thin.tiles == 147
    assert thin.flops > 14 * square.flops
    assert equivalent_side(spec, thin.flops) == 896 and equivalent_side(spec, square.flops) == 256
    one = estimate_work(spec, (1, 5000), device_type="cpu")
    assert equivalent_side(spec, one.flops) == 512 and one.padded == (64, 5056)
    # the released networks' FLOP as counted before (benchmarks/RESULTS.md): encoder, decoder, step
    cost = model_cost(spec)
    assert cost.encode.flops(256, 256) / 1e9 == pytest.approx(345.2, abs=0.1)
    assert cost.decode.flops(64, 64) / 1e9 == pytest.approx(670.8, abs=0.1)
    assert cost.unet.flops(64, 64) / 1e9 == pytest.approx(100.8, abs=0.1)


def test_models_differ_in_cost_per_pixel_and_steps_count():
    """A lite model (small UNet, weight-free first stage) costs a small fraction of the official
    one per pixel; the work grows linearly with the steps (the autoencoder's share is fixed); the
    device's default tiles count (a GPU's are larger: fewer of them)."""
    official, lite = OFFICIAL["realsr-v3"], lite_model("lite-sr")
    size = (256, 256)
    assert estimate_work(lite, size).flops < estimate_work(official, size).flops / 20
    v2 = OFFICIAL["realsr-v2"]
    one, four, fifteen = (estimate_work(v2, size, RestoreOptions(steps=s)).flops for s in (1, 4, 15))
    assert one < four < fifteen and (fifteen - four) / 11 == pytest.approx((four - one) / 3)  # linear in steps
    gpu, cpu = (estimate_work(official, (512, 512), device_type=d) for d in ("cuda", "cpu"))
    assert (gpu.plan.stage_tile, cpu.plan.stage_tile) == (256, 128) and gpu.grids.encode.tiles < cpu.grids.encode.tiles


def test_square_side():
    assert [square_side(n) for n in (1, 4, 5, 65536, 65537)] == [1, 2, 3, 256, 257]
