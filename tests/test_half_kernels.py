"""The half-precision CUDA fast paths (VQ attention as matrix products, group norm via var_mean).

Their arithmetic is checked on CPU in float32 against PyTorch's own operators; the CUDA case (the
only one where the networks take these paths) runs where a GPU is present.
"""
import math

import pytest
import torch
import torch.nn.functional as F

from resshift.models.layers import GroupNorm, GroupNorm32, half_group_norm, use_half_group_norm
from resshift.models.vq import _half_attention


def test_half_attention_matches_fused_attention_in_float32():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 1, 300, 320, generator=g) for _ in range(3))
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    assert torch.allclose(_half_attention(q, k, v, 128), expected, atol=1e-5)
    assert torch.allclose(_half_attention(q, k, v, 1024), expected, atol=1e-5)


@pytest.mark.parametrize("channels_last", [False, True])
def test_half_group_norm_matches_group_norm_in_float32(channels_last):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 64, 12, 10, generator=g) * 3 + 5
    w, b = torch.randn(64, generator=g), torch.randn(64, generator=g)
    expected = F.group_norm(x, 32, w, b, 1e-6)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    assert torch.allclose(half_group_norm(x, 32, w, b, 1e-6), expected, atol=1e-5)


def test_fast_group_norm_only_for_half_cuda_inference():
    norm = GroupNorm(32, 64)
    x = torch.randn(1, 64, 8, 8)
    with torch.no_grad():
        assert not use_half_group_norm(x, norm)  # CPU
        assert not use_half_group_norm(x.half(), norm)
    # CPU modules keep PyTorch's operator and autocast's float32 output
    with torch.no_grad():
        assert torch.equal(norm(x), F.group_norm(x, 32, norm.weight, norm.bias, norm.eps))
        assert GroupNorm32(64)(x.bfloat16()).dtype == torch.bfloat16


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_half_paths_on_cuda_match_float32():
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(1, 128, 128, 128, generator=g) * 2 + 1).cuda().to(memory_format=torch.channels_last)
    norm = GroupNorm(32, 128, eps=1e-6).cuda()
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
        expected = F.group_norm(x, 32, norm.weight, norm.bias, norm.eps)
        assert use_half_group_norm(x.half(), norm)
        got = norm(x.half())
    assert got.dtype == torch.float16
    assert (got.float() - expected).abs().max().item() < 2e-2
    q, k, v = (torch.randn(1, 1, 5000, 512, generator=g).cuda() for _ in range(3))
    expected = F.scaled_dot_product_attention(q, k, v)
    assert (_half_attention(q.half(), k.half(), v.half(), 4096).float() - expected).abs().max().item() < 2e-2


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("mean_over_std", [0.0, 20.0, 200.0])
def test_half_group_norm_statistics_hold_for_offset_groups_on_cuda(mean_over_std):
    # the statistics come from E[x^2] - E[x]^2 in float32: check the cancellation on the half input
    g = torch.Generator().manual_seed(1)
    x = (torch.randn(1, 64, 256, 256, generator=g) + mean_over_std).half().cuda()
    w, b = torch.ones(64, device="cuda"), torch.zeros(64, device="cuda")
    expected = F.group_norm(x.double(), 32, w.double(), b.double(), 1e-6)
    got = half_group_norm(x.to(memory_format=torch.channels_last), 32, w, b, 1e-6)
    # outputs are ~N(0, 1): their fp16 rounding is ~2e-3; the statistics may add no more than the
    # spacing of fp16 numbers at the offset (what rounding the input to fp16 already costs)
    spacing = torch.finfo(torch.float16).eps * 2 ** math.floor(math.log2(max(mean_over_std, 1.0)))
    assert (got.double() - expected).abs().max().item() < 5e-3 + spacing
