"""The networks reproduce the official implementation and load the official checkpoint layouts."""
import json

import pytest
import torch

from resshift.models import PixelUnshuffleStage, SwinUNet, VQAutoencoder
from resshift.models.swin import shifted_window_mask
from resshift.weights import load_into

from tests.helpers import FIXTURES, fixture_json, fixture_tensors

LAYOUTS = json.loads((FIXTURES / "official_checkpoint_layouts.json").read_text())


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_official_checkpoint_layout(name):
    entry = LAYOUTS[name]
    if "model_params" in entry:
        model = SwinUNet(**entry["model_params"])
    else:
        model = VQAutoencoder(**entry["autoencoder_params"])
    table = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert table == entry["state_dict"]
    assert sum(p.numel() for p in model.parameters()) == entry["n_parameters"]


@pytest.mark.parametrize("name", ["unet_sr", "unet_inpaint", "unet_face"])
def test_unet_reproduces_reference(name):
    model = SwinUNet(**fixture_json(name)["config"]).eval()
    load_into(model, fixture_tensors(name, "weights"))
    io = fixture_tensors(name, "io")
    assert io["x"].shape[-1] != io["x"].shape[-2]  # the fixtures are deliberately not square
    with torch.no_grad():
        out = model(io["x"], io["t"], lq=io["lq"], mask=io.get("mask"))
    assert out.shape == io["out"].shape
    assert (out - io["out"]).abs().max().item() < 1e-4


@pytest.mark.parametrize("name", ["vq_f4", "vq_f8"])
def test_vq_reproduces_reference(name):
    model = VQAutoencoder(**fixture_json(name)["config"]).eval()
    load_into(model, fixture_tensors(name, "weights"))
    io = fixture_tensors(name, "io")
    with torch.no_grad():
        assert (model.encode(io["image"]) - io["latent"]).abs().max().item() < 1e-4
        assert (model.decode(io["latent"]) - io["decoded"]).abs().max().item() < 1e-4
        assert (model.decode(io["latent_random"]) - io["decoded_random"]).abs().max().item() < 1e-4


def test_vq_decode_quantises_to_codebook():
    model = VQAutoencoder(**fixture_json("vq_f4")["config"]).eval()
    z = torch.randn(1, 3, 4, 5)
    q = model.quantize(z)
    codes = model.quantize.embedding.weight
    flat = q.permute(0, 2, 3, 1).reshape(-1, 3)
    # every quantised vector is a codebook row, and the nearest one
    dist = (flat[:, None, :] - codes[None]).pow(2).sum(-1)
    assert torch.equal(dist.min(1).values, torch.zeros(flat.shape[0]))
    nearest = (z.permute(0, 2, 3, 1).reshape(-1, 3)[:, None, :] - codes[None]).pow(2).sum(-1).argmin(1)
    assert torch.allclose(flat, codes[nearest])


def test_swin_mask_matches_checkpoint_buffer():
    weights = fixture_tensors("unet_sr", "weights")
    stored = weights["input_blocks.1.1.blocks.1.attn_mask"]
    assert torch.equal(shifted_window_mask(16, 16, 8, 4), stored)


def test_swin_mask_follows_runtime_size():
    model = SwinUNet(**fixture_json("unet_sr")["config"]).eval()
    block = model.input_blocks[1][1].blocks[1]
    m1 = block.runtime_mask(16, 32, torch.device("cpu"), torch.float32)
    m2 = block.runtime_mask(32, 16, torch.device("cpu"), torch.float32)
    assert m1.shape == (8, 64, 64) and m2.shape == (8, 64, 64)
    assert not torch.equal(m1, m2)
    assert block.runtime_mask(16, 32, torch.device("cpu"), torch.float32) is m1  # cached per size


def test_other_configuration_builds_and_runs():
    """A configuration unlike the fixtures': int num_res_blocks, num_heads, resblock up/down, patch norm."""
    model = SwinUNet(image_size=32, in_channels=4, model_channels=32, out_channels=4, num_res_blocks=2,
                     attention_resolutions=[16], channel_mult=[1, 2, 2], num_heads=2, num_head_channels=-1,
                     use_scale_shift_norm=False, resblock_updown=True, swin_depth=3, swin_embed_dim=64,
                     window_size=4, mlp_ratio=2.0, patch_norm=True, cond_lq=True, lq_size=64).eval()
    x = torch.randn(2, 4, 32, 48)
    lq = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        out = model(x, torch.tensor([0, 3]), lq=lq)
    assert out.shape == (2, 4, 32, 48)
    assert model.size_multiple == 16
    with pytest.raises(ValueError, match="needs the low-quality image"):
        model(x, torch.tensor([0, 3]))


def test_sizes_not_multiple_of_window_run():
    model = SwinUNet(**fixture_json("unet_sr")["config"]).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 20, 12), torch.tensor([1]), lq=torch.randn(1, 3, 20, 12))
    assert out.shape == (1, 3, 20, 12) and torch.isfinite(out).all()


def test_pixel_unshuffle_stage_roundtrip():
    stage = PixelUnshuffleStage(4)
    x = torch.rand(2, 3, 32, 16) * 2 - 1
    z = stage.encode(x)
    assert z.shape == (2, 48, 8, 4)
    assert torch.equal(stage.decode(z), x)


def test_push_pull_fill_keeps_known_and_fills_holes_smoothly():
    from resshift.models.fill import push_pull_fill

    y, x = torch.meshgrid(torch.linspace(0, 1, 40), torch.linspace(0, 1, 56), indexing="ij")
    image = torch.stack([x, y, x * y])[None]
    known = torch.ones(1, 1, 40, 56)
    known[..., 10:30, 15:45] = 0
    filled = push_pull_fill(image, known)
    assert torch.equal(filled[known.expand_as(image) > 0], image[known.expand_as(image) > 0])
    hole = known.expand_as(image) == 0
    assert (filled[hole] - image[hole]).abs().mean() < 0.08  # a smooth ramp is interpolated closely
    assert torch.equal(push_pull_fill(image, torch.zeros(1, 1, 40, 56)), torch.zeros_like(image))


def test_lq_residual_predicts_relative_to_the_input():
    model = SwinUNet(image_size=16, in_channels=48, model_channels=32, out_channels=48, num_res_blocks=1,
                     attention_resolutions=[8], channel_mult=[1, 2], num_head_channels=16,
                     swin_embed_dim=32, window_size=8, cond_lq=True, lq_size=16, lq_residual=4).eval()
    torch.nn.init.zeros_(model.out[2].weight)
    torch.nn.init.zeros_(model.out[2].bias)
    lq = torch.rand(1, 3, 16, 24) * 2 - 1
    with torch.no_grad():
        out = model(torch.randn(1, 48, 16, 24), torch.tensor([2]), lq=lq)
    up = torch.nn.functional.interpolate(lq, scale_factor=4, mode="bicubic", align_corners=False)
    assert torch.allclose(out, torch.nn.functional.pixel_unshuffle(up, 4), atol=1e-6)
    with pytest.raises(ValueError, match="lq_residual"):
        SwinUNet(image_size=16, in_channels=3, model_channels=32, out_channels=3, num_res_blocks=1,
                 attention_resolutions=[], channel_mult=[1], lq_size=16, lq_residual=4)
