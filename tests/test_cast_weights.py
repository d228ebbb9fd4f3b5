"""Half-precision weight copies for autocast inference (resshift/models/cast.py, RestorationModel.networks).

The copies must give exactly autocast's result: checked on CPU under bfloat16 autocast (CPU autocast
casts convolution and linear weights the same way), and on CUDA under fp16 where a GPU is present.
"""
import copy
import pickle

import pytest
import torch
from torch import nn

from resshift.catalog import find_model
from resshift.diffusion.sampler import decode_first_stage, encode_first_stage, sample
from resshift.loader import RestorationModel, build_networks
from resshift.models.cast import autocast_weights
from resshift.pipelines.options import RestoreOptions
from resshift.pipelines.restore import run_model
from resshift.weights.registry import OFFICIAL_MODELS


def _networks(name: str):
    torch.manual_seed(0)
    spec = OFFICIAL_MODELS[0] if name == "official" else find_model(name)
    unet, first = build_networks(spec)
    if hasattr(first, "quantize"):
        with torch.no_grad():
            first.quantize.embedding.weight.normal_()
    return spec, unet, first


def _input(size: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, size, size, generator=g) * 2 - 1


def test_copy_holds_matrix_weights_in_half_and_leaves_the_original():
    _, unet, first = _networks("official")
    twin = autocast_weights(first, torch.bfloat16)
    assert twin.encoder.conv_in.weight.dtype == torch.bfloat16
    assert twin.encoder.conv_in.bias.dtype == torch.bfloat16
    assert twin.quantize.embedding.weight.dtype == torch.float32  # the codebook stays float32
    assert twin.encoder.norm_out.weight.dtype == torch.float32  # norms too
    assert all(p.dtype == torch.float32 for p in first.parameters())
    assert torch.equal(twin.encoder.conv_in.weight, first.encoder.conv_in.weight.bfloat16())
    assert not any(p.requires_grad for p in twin.parameters())
    unet_twin = autocast_weights(unet, torch.float16)
    tables = [m.relative_position_bias_table for m in unet_twin.modules()
              if hasattr(m, "relative_position_bias_table")]
    assert tables and all(t.dtype == torch.float32 for t in tables)
    assert all(m.weight.dtype == torch.float16 for m in unet_twin.modules() if isinstance(m, nn.Linear))
    with pytest.raises(ValueError):
        autocast_weights(first, torch.float32)


def test_networks_copy_and_pickle_without_their_caches():
    spec, unet, first = _networks("lite-sr")
    y = _input(32)
    sample(unet, y, RestorationModel(spec, unet, first).schedule(), spec.diffusion, first_stage=first,
           generator=torch.Generator().manual_seed(0))  # fills the mask and position-bias caches
    for twin in (copy.deepcopy(unet), pickle.loads(pickle.dumps(unet))):
        for a, b in zip(unet.state_dict().values(), twin.state_dict().values()):
            assert torch.equal(a, b)


@pytest.mark.parametrize("name", ["lite-sr", "lite-inpaint"])
def test_lite_sampling_with_copies_equals_autocast(name):
    spec, unet, first = _networks(name)
    y = _input(32)
    kwargs = {"lq": y}
    if spec.diffusion.sf == 1:
        y = _input(128)
        mask = torch.ones(1, 1, 128, 128)
        mask[..., 40:90, 30:100] = -1
        kwargs = {"lq": y, "mask": mask}
    schedule = RestorationModel(spec, unet, first).schedule()
    run = lambda u, f: sample(u, y, schedule, spec.diffusion, first_stage=f, model_kwargs=kwargs,  # noqa: E731
                              generator=torch.Generator().manual_seed(3), precision="bf16")
    expected = run(unet, first)
    got = run(autocast_weights(unet, torch.bfloat16), autocast_weights(first, torch.bfloat16))
    assert torch.equal(got, expected)


def test_vq_first_stage_with_copies_equals_autocast():
    spec, _, first = _networks("official")
    twin = autocast_weights(first, torch.bfloat16)
    y = _input(16)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        z, z_twin = (encode_first_stage(y, spec.diffusion, f) for f in (first, twin))
        assert torch.equal(z, z_twin)
        assert torch.equal(decode_first_stage(z, spec.diffusion, first), decode_first_stage(z, spec.diffusion, twin))


def test_networks_are_the_originals_off_cuda_and_in_float32():
    spec, unet, first = _networks("lite-sr")
    model = RestorationModel(spec, unet, first)
    for precision in ("fp32", "fp16", "bf16"):
        assert model.networks(precision) == (unet, first)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("cuda_graphs", [False, True])
def test_cuda_restoration_with_copies_equals_autocast(cuda_graphs):
    spec, unet, first = _networks("official")
    model = RestorationModel(spec, unet, first).to("cuda")
    y = _input(64).cuda()
    options = RestoreOptions(seed=4, precision="fp16", cuda_graphs=cuda_graphs)
    got, *_ = run_model(model, y, options)
    unet16, first16 = model.networks("fp16")
    assert unet16 is not model.unet and model.networks("fp16")[0] is unet16  # made once, kept
    assert unet16.out[-1].weight.dtype == torch.float16
    schedule = model.schedule()
    expected = sample(model.unet, y, schedule, spec.diffusion, first_stage=model.first_stage,
                      model_kwargs={"lq": y}, generator=torch.Generator().manual_seed(4), precision="fp16")
    assert torch.equal(got, expected)


@pytest.mark.slow
def test_compile_is_ignored_off_cuda():
    spec, unet, first = _networks("lite-sr")
    model = RestorationModel(spec, unet, first)
    assert model.networks("fp32", compiled=True) == (unet, first)
    y = _input(32)
    a, *_ = run_model(model, y, RestoreOptions(seed=2, precision="fp32", compile=True))
    b, *_ = run_model(model, y, RestoreOptions(seed=2, precision="fp32"))
    assert torch.equal(a, b)


def test_compiled_first_stage_shares_the_weights_and_leaves_the_original():
    from resshift.models.compiled import compiled_first_stage

    _, _, first = _networks("official")
    encoder, decoder = first.encoder, first.decoder
    twin = compiled_first_stage(first)
    assert first.encoder is encoder and first.decoder is decoder  # the original is untouched
    assert twin.encoder is not encoder and twin.encoder._orig_mod is encoder
    assert twin.decoder._orig_mod is decoder and twin.quantize is first.quantize
    _, _, pixel = _networks("lite-sr")
    assert compiled_first_stage(pixel) is pixel  # nothing to compile in the weight-free stage


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=[
    pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")])])
def test_compiled_first_stage_matches_eager(device):
    from resshift.diffusion.sampler import autocast_context
    from resshift.models.compiled import compiled_first_stage

    spec, _, first = _networks("official")
    first = first.to(device)
    twin = compiled_first_stage(first)
    y = _input(16).to(device)  # a 64x64 image after the x4 bicubic: a 16x16 latent
    precision, tolerance = ("fp16", 2e-2) if device == "cuda" else ("fp32", 1e-4)
    with torch.inference_mode(), autocast_context(torch.device(device), precision):
        z = encode_first_stage(y, spec.diffusion, first)
        z_twin = encode_first_stage(y, spec.diffusion, twin)
        x = decode_first_stage(z, spec.diffusion, first)
        x_twin = decode_first_stage(z, spec.diffusion, twin)
    assert (z_twin - z).abs().max() <= tolerance * z.abs().max()
    assert (x_twin - x).abs().max() <= tolerance * x.abs().max()
