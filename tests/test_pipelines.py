"""Task pipelines on real images with tiny random models: sizes, padding, tiling, known pixels."""
import numpy as np
import pytest
import torch
from PIL import Image

from resshift.pipelines import (InvalidImageError, InvalidMaskError, RestoreOptions, inpaint, restore_face,
                                restore_face_batch, super_resolve)
from resshift.pipelines.restore import pad_to_multiple

from .helpers import DATA, tiny_model

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
    # tile starts and ends along each axis (in output pixels) from the same tiling rule
    from resshift.pipelines.tiling import balanced_tile, tile_starts

    def edges(length):
        edge = balanced_tile(length, 32, 8, sr.input_multiple)
        starts = tile_starts(length, edge, 8)
        return [s * 4 for s in starts[1:]] + [(s + edge) * 4 for s in starts[:-1]]
    xs, ys = edges(64), edges(48)
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


def test_tiled_memory_is_bounded_by_tile(sr):
    seen = []
    orig = sr.unet.forward

    class Spy(torch.nn.Module):
        pass

    def spy_forward(x, t, **kw):
        seen.append(tuple(x.shape[-2:]))
        return orig(x, t, **kw)

    sr.unet.forward = spy_forward
    try:
        super_resolve(sr, Image.open(BSD).crop((0, 0, 64, 64)), RestoreOptions(seed=0, tile=32, tile_overlap=8))
    finally:
        del sr.unet.forward
    assert set(seen) == {(32, 32)}  # the network never sees more than one tile


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
    with pytest.raises(ValueError, match="not 'inpaint'"):
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
    from resshift.weights.lite import LITE_MODELS
    from resshift.loader import RestorationModel, build_networks

    lite = RestorationModel(LITE_MODELS[0], *build_networks(LITE_MODELS[0]))
    assert restore.resolve_precision("fp32", lite) == "fp32"
    assert restore.resolve_precision("auto", sr) == "fp32"  # VQ models stay float32 on a CPU
    monkeypatch.setattr(restore, "cpu_has_native_bf16", lambda: True)
    assert restore.resolve_precision("auto", lite) == "bf16"
    monkeypatch.setattr(restore, "cpu_has_native_bf16", lambda: False)
    assert restore.resolve_precision("auto", lite) == "fp32"
