"""Task pipelines on real images with tiny random models: sizes, padding, tiling, known pixels."""
import re

import numpy as np
import pytest
import torch
from PIL import Image

from resshift.runtime.compat import install_torchvision_compat
from resshift.pipelines import (
    InvalidImageError,
    InvalidMaskError,
    RestoreOptions,
    decode_mask,
    inpaint,
    restore_face,
    restore_face_batch,
    super_resolve,
)
from resshift.pipelines.restore import pad_to_multiple

from tests.helpers import DATA, tiny_model

install_torchvision_compat()  # before basicsr is imported
from basicsr.metrics import calculate_psnr

REAL = DATA / "images" / "realsr_canon006_crop.png"
BSD = DATA / "images" / "bsd100_crop.png"


@pytest.fixture(scope="module")
def sr():
    return tiny_model("sr")


@pytest.fixture(scope="module")
def inp():
    return tiny_model("inpaint")


def test_sr_real_image_odd_size(sr):
    img = Image.open(REAL).crop((0, 0, 45, 27))  # not a multiple of anything
    r = super_resolve(sr, img, RestoreOptions(seed=3))
    assert r.image.shape == (27 * 4, 45 * 4, 3) and r.image.dtype == np.uint8
    assert r.seed == 3 and r.steps == 4 and r.kappa == 2.0 and r.tiles == 1
    again = super_resolve(sr, img, RestoreOptions(seed=3))
    assert np.array_equal(r.image, again.image)


def test_sr_steps_kappa_and_random_seed(sr):
    img = np.asarray(Image.open(REAL).crop((0, 0, 16, 16)))
    r = super_resolve(sr, img, RestoreOptions(steps=2, kappa=1.0))
    assert r.steps == 2 and r.kappa == 1.0 and r.timesteps == (1, 3)
    assert isinstance(r.seed, int) and r.seed >= 0


@pytest.mark.slow
def test_sr_keeps_alpha_and_handles_grey(sr):
    rgba = Image.open(REAL).crop((0, 0, 20, 12)).convert("RGBA")
    alpha = np.zeros((12, 20), np.uint8)
    alpha[:, 10:] = 255
    rgba.putalpha(Image.fromarray(alpha))
    r = super_resolve(sr, rgba, RestoreOptions(seed=0))
    assert r.image.shape == (48, 80, 4)
    assert r.image[:, :30, 3].max() < 40 and r.image[:, 50:, 3].min() > 215
    grey = Image.open(REAL).crop((0, 0, 20, 12)).convert("L")
    assert super_resolve(sr, grey, RestoreOptions(seed=0)).image.shape == (48, 80, 3)
    sixteen = (np.asarray(grey, dtype=np.uint16) * 257)
    a = super_resolve(sr, sixteen, RestoreOptions(seed=0)).image
    b = super_resolve(sr, np.asarray(grey), RestoreOptions(seed=0)).image
    assert np.abs(a.astype(int) - b).max() <= 2


def test_tiled_sr_has_no_seams(sr):
    """Tiles blend smoothly: the gradient energy on tile borders is not above the image average."""
    img = Image.open(BSD).crop((0, 0, 64, 48))
    r = super_resolve(sr, img, RestoreOptions(seed=0, tile=32, tile_overlap=8))
    assert r.tiles > 1 and r.image.shape == (192, 256, 3)
    out = r.image.astype(np.float64).mean(axis=2)
    gx = np.abs(np.diff(out, axis=1))
    gy = np.abs(np.diff(out, axis=0))
    # the VQ's tile starts and ends along each axis (in output pixels), from the same tiling rule
    from resshift.pipelines.tiling import tile_grid
    th, tw, boxes = tile_grid(48, 64, 32, 8)
    ys, xs = sorted({b[0] for b in boxes}), sorted({b[1] for b in boxes})
    xs = [s * 4 for s in xs[1:]] + [(s + tw) * 4 for s in xs[:-1]]
    ys = [s * 4 for s in ys[1:]] + [(s + th) * 4 for s in ys[:-1]]
    border = np.concatenate([gx[:, x - 1] for x in xs if 0 < x < gx.shape[1]] +
                            [gy[y - 1, :] for y in ys if 0 < y < gy.shape[0]])
    assert border.mean() <= np.concatenate([gx.ravel(), gy.ravel()]).mean() * 1.05


def test_tiling_is_pure_and_exact_for_pointwise_fn():
    from resshift.pipelines.tiling import tiled
    x = torch.rand(1, 3, 50, 70)
    out = tiled(lambda t: t.repeat_interleave(2, -1).repeat_interleave(2, -2) * 2, x, tile=24, overlap=6, scale=2,
                batch=3)
    expected = x.repeat_interleave(2, -1).repeat_interleave(2, -2) * 2
    assert torch.allclose(out, expected, atol=1e-5)


def test_tiling_with_a_fractional_scale():
    """An encoder-like fn (4x smaller output): tiles start on multiples of 4 and blend exactly."""
    from fractions import Fraction

    from resshift.pipelines.tiling import tile_grid, tiled
    x = torch.rand(1, 3, 52, 76)
    seen = []

    def pool(t):
        seen.append(tuple(t.shape[-2:]))
        return torch.nn.functional.avg_pool2d(t, 4)

    out = tiled(pool, x, tile=24, overlap=6, scale=Fraction(1, 4), batch=2)
    assert torch.allclose(out, torch.nn.functional.avg_pool2d(x, 4), atol=1e-5)
    th, tw, boxes = tile_grid(52, 76, 24, 6, step=4)
    assert all(v % 4 == 0 for box in boxes for v in box) and th % 4 == 0 and tw % 4 == 0
    assert set(seen) == {(th, tw)} and th <= 24 and tw <= 24
    with pytest.raises(ValueError, match="multiple of 4"):
        tiled(pool, x[..., :50, :], tile=24, overlap=6, scale=Fraction(1, 4))


def test_balanced_tiles_keep_the_count_and_the_overlap():
    from resshift.pipelines.tiling import balanced_tile, tile_starts
    g = torch.Generator().manual_seed(0)
    for _ in range(500):
        multiple = [1, 8, 32, 64][int(torch.randint(4, (1,), generator=g))]
        length = multiple * int(torch.randint(1, 60, (1,), generator=g))
        tile = multiple * int(torch.randint(1, 20, (1,), generator=g))
        overlap = int(torch.randint(0, tile, (1,), generator=g))
        edge = balanced_tile(length, tile, overlap, multiple)
        assert edge % multiple == 0 and edge <= max(tile, length) and edge <= length
        starts = tile_starts(length, edge, overlap)
        assert len(starts) == len(tile_starts(length, min(tile, length), overlap))
        assert starts[0] == 0 and starts[-1] + edge == length
        assert all(b - a <= edge - overlap for a, b in zip(starts, starts[1:]))  # overlap kept
        if tile < length:  # the smallest such edge: one multiple less needs more tiles
            smaller = edge - multiple
            assert smaller <= overlap or len(tile_starts(length, smaller, overlap)) > len(starts)
    assert balanced_tile(1024, 512, 64, 32) == 384  # 3 tiles either way, 1.8x less area


def _spy_shapes(module: torch.nn.Module, monkeypatch) -> list[tuple[int, int]]:
    seen = []
    orig = module.forward

    def spy(x, *args, **kw):
        seen.append(tuple(x.shape[-2:]))
        return orig(x, *args, **kw)

    monkeypatch.setattr(module, "forward", spy)
    return seen


@pytest.mark.slow
def test_tiled_memory_is_bounded_by_tile(sr, monkeypatch):
    """Every network sees tiles only: the VQ encoder and decoder at most ``tile`` input pixels
    (x4 after the bicubic up-sampling), the Swin-UNet at most its own latent tile."""
    from resshift.pipelines import restore
    encoder = _spy_shapes(sr.first_stage.encoder, monkeypatch)
    decoder = _spy_shapes(sr.first_stage.decoder, monkeypatch)
    unet = _spy_shapes(sr.unet, monkeypatch)
    img = Image.open(BSD).crop((0, 0, 64, 64))
    r = super_resolve(sr, img, RestoreOptions(seed=0, tile=32, tile_overlap=8))
    assert r.tiles == 9
    # 64 px in tiles of at most 32 with an overlap of 8: 3 tiles of 27 (bicubic x4, then the VQ's
    # /4: one latent pixel per input pixel, so no multiple of the UNet's 16 is needed)
    assert set(encoder) == {(108, 108)} and len(encoder) == 9
    assert set(decoder) == {(27, 27)} and len(decoder) == 9
    assert set(unet) == {(64, 64)} and len(unet) == 4  # the UNet's tile (256 on CPU) holds the latent
    unet.clear()
    monkeypatch.setattr(restore, "default_unet_tile", lambda model: 32)
    super_resolve(sr, img, RestoreOptions(seed=0, tile=32, tile_overlap=8))
    assert set(unet) == {(32, 32)} and len(unet) == 4 * 9  # 3 x 3 tiles of 32 (a multiple of 16)


@pytest.mark.slow
def test_tiled_progress_counts_every_tile_of_every_stage(sr, monkeypatch):
    from resshift.pipelines import restore
    monkeypatch.setattr(restore, "default_unet_tile", lambda model: 32)
    events = []
    img = Image.open(BSD).crop((0, 0, 64, 64))
    super_resolve(sr, img, RestoreOptions(seed=0, steps=2, tile=32, tile_overlap=8), callback=events.append)
    words = [e.describe() for e in events]
    assert len(events) == 9 + 2 * 9 + 9
    assert words[0] == "encoding, tile 1/9" and words[9] == "step 1/2, tile 1/9"
    assert words[17] == "step 1/2, tile 9/9" and events[17].step is not None and events[17].step.index == 0
    assert [e.step.index for e in events if e.step is not None] == [0, 1]
    assert words[-1] == "decoding, tile 9/9"
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and len(set(fractions)) == len(fractions) and fractions[-1] == 1.0


@pytest.mark.slow
def test_tiles_per_call_do_not_change_the_image(sr, monkeypatch):
    """Tiles batched through the networks (``batch_tiles``) give the image of one tile per call."""
    from resshift.pipelines import restore
    monkeypatch.setattr(restore, "default_unet_tile", lambda model: 32)
    img = Image.open(BSD).crop((0, 0, 64, 48))
    one = super_resolve(sr, img, RestoreOptions(seed=2, tile=32, tile_overlap=8)).image.astype(np.float64)
    four = super_resolve(sr, img, RestoreOptions(seed=2, tile=32, tile_overlap=8, batch_tiles=4)).image
    assert np.abs(four - one).max() <= 1


@pytest.mark.slow
def test_tiled_inpainting_with_the_largest_overlap(inp):
    """The largest overlap allowed (half the tile) still advances once the encoder's 4x shrinks it;
    a larger one is refused, with the tile it was measured against."""
    img = np.asarray(Image.open(BSD).crop((0, 0, 130, 70)).convert("RGB"))
    mask = np.zeros(img.shape[:2], bool)
    mask[20:50, 50:90] = True
    r = inpaint(inp, img, mask, RestoreOptions(seed=1, tile=64, tile_overlap=32))
    assert r.tiles > 1 and np.array_equal(r.image[~mask], img[~mask])
    with pytest.raises(ValueError, match=r"tile_overlap \(33\) must be at most half the tile \(32\)"):
        RestoreOptions(tile=64, tile_overlap=33)
    with pytest.raises(ValueError, match=r"tile_overlap \(1000\).*\(128 here\)"):  # the default tile: 256
        inpaint(inp, img, mask, RestoreOptions(seed=1, tile_overlap=1000))
    assert inpaint(inp, img, mask, RestoreOptions(seed=1, tile=0, tile_overlap=1000)).tiles == 1  # no tiling


@pytest.mark.slow
def test_stages_without_tiles_are_the_sampler(sr):
    """With every tile holding the whole input, the staged path is the one-call sampler, bit for bit:
    the same noise, encoding, steps and decoding."""
    from resshift.diffusion.sampler import sample
    from resshift.pipelines.stages import restore_in_stages
    y = torch.rand(1, 3, 32, 48) * 2 - 1
    schedule = sr.schedule()
    expected = sample(sr.unet, y, schedule, sr.spec.diffusion, first_stage=sr.first_stage,
                      generator=torch.Generator().manual_seed(5))
    out, tiles = restore_in_stages(sr.unet, sr.first_stage, y, schedule, sr.spec.diffusion, stage_tile=0,
                                   unet_tile=256, overlap=4, generator=torch.Generator().manual_seed(5),
                                   precision="fp32")
    assert tiles == 1 and torch.equal(out, expected)


def test_tiled_denoiser_blends_its_tiles():
    """A tiled network that is pointwise gives the untiled result; the condition is cut like x_t."""
    from resshift.models.unet import Condition
    from resshift.pipelines.stages import TiledDenoiser

    class Pointwise(torch.nn.Module):
        size_multiple = 8

        def forward(self, x, t, cond):
            return x * t.view(-1, 1, 1, 1) + cond.features.to(x.dtype) - cond.base

    x = torch.rand(1, 3, 40, 56)
    cond = Condition(torch.rand(1, 3, 40, 56).half(), torch.rand(1, 3, 40, 56))
    t = torch.tensor([3])
    tiled_net = TiledDenoiser(Pointwise(), tile=16, overlap=4, multiple=8, batch=2)
    expected = x * 3 + cond.features.float() - cond.base
    assert torch.allclose(tiled_net(x, t, cond=cond), expected, atol=1e-5)


@pytest.mark.slow
def test_tiled_output_stays_near_the_untiled_one():
    """One noise field and x0 blended at every step: tiling barely changes a trained model's image
    (bundled lite-sr at its trained 4 steps, 128 px in 64 px tiles: 39.4 dB from the untiled image;
    restoring the image tile by tile, as before, gave 28.1 dB)."""
    from resshift.catalog import find_model
    from resshift.loader import load_model
    lite = load_model(find_model("lite-sr"), allow_download=False)
    img = Image.open(BSD)  # 128 x 128
    whole = super_resolve(lite, img, RestoreOptions(seed=4, steps=4, tile=0)).image.astype(np.float64)
    events = []
    parts = super_resolve(lite, img, RestoreOptions(seed=4, steps=4, tile=64, tile_overlap=16),
                          callback=events.append)
    assert parts.tiles == 9
    # the weight-free first stage goes whole: only the UNet's tiles and the steps are reported
    assert len(events) == 4 * 9 and events[-1].fraction == 1.0 and events[-1].describe() == "step 4/4, tile 9/9"
    assert calculate_psnr(parts.image, whole, crop_border=0) > 36


def test_tiled_inpainting_keeps_known_pixels(inp, monkeypatch):
    """The encoder's tiles shrink the input 4x: their edges are multiples of 4 pixels."""
    encoder = _spy_shapes(inp.first_stage.encoder, monkeypatch)
    img = np.asarray(Image.open(BSD).crop((0, 0, 130, 70)).convert("RGB"))
    mask = np.zeros(img.shape[:2], bool)
    mask[20:50, 50:90] = True
    r = inpaint(inp, img, mask, RestoreOptions(seed=1, tile=64, tile_overlap=8))
    assert r.tiles > 1 and r.image.shape == img.shape
    assert len(encoder) == r.tiles and all(h % 4 == 0 and w % 4 == 0 and max(h, w) <= 64 for h, w in encoder)
    assert np.array_equal(r.image[~mask], img[~mask])
    assert (r.image[mask] != img[mask]).mean() > 0.5


def test_pad_to_multiple_tiny_inputs():
    x = torch.arange(6.0).view(1, 1, 2, 3)
    padded, h, w = pad_to_multiple(x, 16)
    assert padded.shape == (1, 1, 16, 16) and (h, w) == (2, 3)
    assert torch.equal(padded[..., :2, :3], x)


def test_inpaint_keeps_known_pixels_exact(inp):
    img = np.asarray(Image.open(BSD).crop((0, 0, 70, 50)).convert("RGB"))
    mask = np.zeros(img.shape[:2], bool)
    mask[10:30, 20:45] = True
    r = inpaint(inp, img, mask, RestoreOptions(seed=1))
    assert r.image.shape == img.shape
    assert np.array_equal(r.image[~mask], img[~mask])
    assert (r.image[mask] != img[mask]).mean() > 0.5
    assert r.extra["masked_fraction"] == pytest.approx(mask.mean(), abs=1e-3)


def test_inpaint_mask_image_and_errors(inp):
    img = Image.open(BSD).crop((0, 0, 40, 40))
    mask_img = Image.new("L", (40, 40), 0)
    mask_img.paste(200, (5, 5, 20, 20))
    r = inpaint(inp, img, mask_img, RestoreOptions(seed=0))
    known = np.asarray(img.convert("RGB"))
    assert np.array_equal(r.image[30:, 30:], known[30:, 30:])
    with pytest.raises(InvalidMaskError, match="empty"):
        inpaint(inp, img, np.zeros((40, 40), bool))
    with pytest.raises(InvalidMaskError, match="40x40"):
        inpaint(inp, img, Image.new("L", (30, 40), 255))


def test_mask_arrays_read_like_mask_images():
    """A 2-D array is thresholded at half like the same mask as an image; 0/1 masks mark 1."""
    ramp = np.tile(np.arange(256, dtype=np.uint8), (4, 1))
    as_image = decode_mask(Image.fromarray(ramp), (256, 4))
    assert as_image.mean() == 0.5
    for mask in (ramp, ramp[..., None], np.repeat(ramp[..., None], 3, axis=2)):
        assert np.array_equal(decode_mask(mask, (256, 4)), as_image)
    assert not decode_mask(np.full((4, 256), 0.3, np.float32), (256, 4)).any()
    ones = np.zeros((4, 256), np.int64)
    ones[:, :10] = 1
    for mask in (ones, ones.astype(np.uint8), ones.astype(bool)):
        assert decode_mask(mask, (256, 4)).sum() == 40
    with pytest.raises(InvalidMaskError, match="256x4"):
        decode_mask(ones, (128, 4))


@pytest.mark.slow
def test_face_pipeline_aligned_and_batch():
    face = tiny_model("face")
    img = np.asarray(Image.open(BSD).resize((128, 128)))
    r = restore_face(face, img, RestoreOptions(seed=0))
    assert r.image.shape == (128, 128, 3)
    with pytest.raises(InvalidImageError, match="square"):
        restore_face(face, np.zeros((100, 60, 3), np.uint8))
    batch = np.stack([np.asarray(Image.open(BSD).resize((512, 512)))] * 2)
    out = restore_face_batch(face, batch, RestoreOptions(seed=0))
    assert out.shape == batch.shape and out.dtype == np.uint8


def test_wrong_task_is_refused(sr):
    with pytest.raises(ValueError, match="tiny-sr is a super-resolution model; choose an inpainting model"):
        inpaint(sr, np.zeros((8, 8, 3), np.uint8), np.ones((8, 8), bool))


@pytest.mark.parametrize("method", ["wavelet", "adain"])
def test_color_fix_pulls_colours_to_input(sr, method):
    img = np.asarray(Image.open(BSD).crop((0, 0, 24, 24)))
    plain = super_resolve(sr, img, RestoreOptions(seed=0)).image.astype(float)
    fixed = super_resolve(sr, img, RestoreOptions(seed=0, color_fix=method)).image.astype(float)
    ref = np.asarray(Image.fromarray(img).resize((96, 96), Image.BICUBIC)).astype(float)
    err = lambda a: np.abs(a.mean((0, 1)) - ref.mean((0, 1))).mean()  # noqa: E731
    assert err(fixed) < err(plain)


def test_auto_precision(monkeypatch, sr):
    import resshift.pipelines.restore as restore
    from resshift.loader import RestorationModel, build_networks
    from resshift.weights.lite import LITE_MODELS

    lite = RestorationModel(LITE_MODELS[0], *build_networks(LITE_MODELS[0]))
    assert restore.resolve_precision("fp32", lite) == "fp32"
    assert restore.resolve_precision("auto", sr) == "fp32"  # VQ models stay float32 on a CPU
    monkeypatch.setattr(restore, "cpu_has_native_bf16", lambda: True)
    assert restore.resolve_precision("auto", lite) == "bf16"
    monkeypatch.setattr(restore, "cpu_has_native_bf16", lambda: False)
    assert restore.resolve_precision("auto", lite) == "fp32"


@pytest.mark.parametrize("kwargs, error, message", [
    ({"steps": 2.5}, TypeError, "steps must be a whole number, got 2.5"),
    ({"seed": 1.5}, TypeError, "seed must be a whole number"),
    ({"steps": "4"}, TypeError, "steps must be a whole number, got '4'"),
    ({"tile": True}, TypeError, "tile must be a whole number"),
    ({"kappa": "2"}, TypeError, "kappa must be a number"),
    ({"kappa": float("inf")}, ValueError, "kappa must be from 0.1 to 8; got inf"),
    ({"kappa": float("nan")}, ValueError, "kappa must be from 0.1 to 8; got nan"),
    ({"tile_overlap": -4}, ValueError, "tile_overlap must be >= 0"),
])
def test_options_refuse_wrong_types_and_values(kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        RestoreOptions(**kwargs)


def test_options_take_numpy_numbers():
    o = RestoreOptions(steps=np.int64(3), kappa=np.float32(1.5), seed=np.uint32(7), tile=np.int16(64))
    assert (o.steps, o.kappa, o.seed, o.tile) == (3, 1.5, 7, 64)
    assert type(o.steps) is int and type(o.kappa) is float and type(o.seed) is int


def test_greyscale_input_gives_greyscale_result(sr, inp):
    """The networks work in colour; a grey input must not come back with colour noise."""
    grey = Image.open(BSD).crop((0, 0, 32, 24)).convert("L")
    for image in (grey, grey.convert("RGB"), np.asarray(grey.convert("I;16"))):
        out = super_resolve(sr, image, RestoreOptions(seed=0)).image
        assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()
    colour = np.asarray(Image.open(BSD).crop((0, 0, 32, 24)).convert("RGB"))
    out = super_resolve(sr, colour, RestoreOptions(seed=0)).image
    assert (out[..., 0] != out[..., 1]).mean() > 0.5  # colour stays colour
    mask = np.zeros((24, 32), bool)
    mask[4:12, 8:20] = True
    filled = inpaint(inp, grey, mask, RestoreOptions(seed=0)).image
    assert (filled[..., 0] == filled[..., 2]).all()
