"""Real-ESRGAN x4 degradation: kernels (per sample, CPU), noise and the batched pipeline."""
from pathlib import Path

import numpy as np
import pytest
import torch

from resshift.data import (
    BlurKernelConfig, CropConfig, ImageFolder, RealESRGANConfig, RealESRGANDegradation, bicubic_downsample,
    blur_kernel, final_sinc_kernel,
)
from resshift.data.noise import add_gaussian_noise, add_poisson_noise

DATA = Path(__file__).parent / "data" / "natural"


def _batch(n=3, size=96, seed=0, config=RealESRGANConfig()):
    ds = ImageFolder(DATA, CropConfig(size), seed=seed, transform=config.kernels)
    samples = [ds[i] for i in range(n)]
    return {k: torch.stack([s[k] for s in samples]) for k in ("gt", "kernel1", "kernel2", "sinc_kernel")}


def _gens(seed):
    return torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed + 100)


def _degrade(batch, config, seed=0):
    g, choices = _gens(seed)
    return RealESRGANDegradation(config)(batch["gt"], batch["kernel1"], batch["kernel2"], batch["sinc_kernel"],
                                         generator=g, choices=choices)


def test_blur_kernels_are_normalised_21x21_and_seeded():
    cfg = BlurKernelConfig()
    for seed in range(20):
        k = blur_kernel(np.random.default_rng(seed), cfg)
        assert k.shape == (21, 21) and k.dtype == np.float32
        assert abs(float(k.sum()) - 1) < 1e-4
        assert np.allclose(k, k[::-1, ::-1], atol=1e-6)  # every kernel type is point-symmetric
    a = blur_kernel(np.random.default_rng(5), cfg)
    assert np.array_equal(a, blur_kernel(np.random.default_rng(5), cfg))
    assert not np.array_equal(a, blur_kernel(np.random.default_rng(6), cfg))


def test_kernel_size_and_sinc_choice():
    small_iso = BlurKernelConfig(kernel_types=("iso",), kernel_probs=(1.0,), sizes=(7,), sinc_prob=0.0)
    k = blur_kernel(np.random.default_rng(0), small_iso)
    assert np.all(k[:7] == 0) and np.all(k[:, 14:] == 0)  # a 7x7 kernel padded in the middle
    assert k.min() >= 0
    sinc = blur_kernel(np.random.default_rng(1), BlurKernelConfig(sinc_prob=1.0, sizes=(21,)))
    assert sinc.min() < 0  # a sinc has negative lobes, Gaussians do not


def test_final_sinc_or_pulse():
    pulse = final_sinc_kernel(np.random.default_rng(0), prob=0.0)
    assert pulse[10, 10] == 1 and pulse.sum() == 1
    sinc = final_sinc_kernel(np.random.default_rng(0), prob=1.0)
    assert abs(float(sinc.sum()) - 1) < 1e-4 and sinc[10, 10] < 1


def test_lq_shape_range_and_8bit_levels():
    batch = _batch()
    gt, lq = _degrade(batch, RealESRGANConfig())
    assert gt.shape == (3, 3, 96, 96) and lq.shape == (3, 3, 24, 24) and lq.dtype == torch.float32
    assert float(lq.min()) >= 0 and float(lq.max()) <= 1
    levels = lq * 255
    assert torch.equal(levels, levels.round())
    assert torch.equal(gt, batch["gt"])  # no sharpening by default


def test_degradation_changes_the_image():
    batch = _batch()
    _, lq = _degrade(batch, RealESRGANConfig(bicubic_prob=0.0))
    bicubic = bicubic_downsample(batch["gt"], 4)
    diff = (lq - bicubic).abs().flatten(1).mean(1)
    assert bool((diff > 0.01).all()), diff  # blur/noise/JPEG, not a plain resize


def test_bicubic_share():
    batch = _batch()
    _, lq = _degrade(batch, RealESRGANConfig(bicubic_prob=1.0))
    assert torch.equal(lq, bicubic_downsample(batch["gt"], 4))


def test_same_seeds_same_output_and_seeds_matter():
    batch = _batch()
    _, a = _degrade(batch, RealESRGANConfig(), seed=1)
    _, b = _degrade(batch, RealESRGANConfig(), seed=1)
    _, c = _degrade(batch, RealESRGANConfig(), seed=2)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_sharpen_gt_returns_the_sharpened_target():
    batch = _batch(n=2)
    gt, _ = _degrade(batch, RealESRGANConfig(sharpen_gt=True))
    assert not torch.equal(gt, batch["gt"])
    assert float(gt.min()) >= 0 and float(gt.max()) <= 1


def test_size_checks():
    cfg = RealESRGANConfig()
    assert cfg.min_size() == 76
    batch = _batch(n=1, size=64)
    with pytest.raises(ValueError, match="at least 76"):
        _degrade(batch, cfg)
    relaxed = RealESRGANConfig(resize_range=(0.5, 1.5))
    _, lq = _degrade(batch, relaxed)
    assert lq.shape == (1, 3, 16, 16)
    with pytest.raises(ValueError, match="multiples of 4"):
        _degrade({**batch, "gt": batch["gt"][..., :62]}, relaxed)


def test_config_from_dict_and_validation():
    cfg = RealESRGANConfig.from_dict({"second_order_prob": 0.5, "kernel2": {"sinc_prob": 0.0},
                                      "noise_range": [2, 4]})
    assert cfg.second_order_prob == 0.5 and cfg.kernel2.sinc_prob == 0.0
    assert cfg.kernel2.sigma_range == (0.2, 1.5)  # the second blur keeps its own defaults
    assert cfg.noise_range == (2.0, 4.0)
    with pytest.raises(ValueError, match="bicubic_prob"):
        RealESRGANConfig(bicubic_prob=1.5)
    with pytest.raises(ValueError, match="kernel types"):
        BlurKernelConfig(kernel_types=("box",), kernel_probs=(1.0,))


def test_gaussian_noise_level_and_grey_noise():
    img = torch.full((2, 3, 64, 64), 0.5)
    g = torch.Generator().manual_seed(0)
    out = add_gaussian_noise(img, (10.0, 10.0), gray_prob=0.0, generator=g)
    std = float((out - img).std())
    assert abs(std - 10 / 255) < 0.002
    grey = add_gaussian_noise(img, (10.0, 10.0), gray_prob=1.0, generator=g)
    assert torch.equal(grey[:, 0], grey[:, 1]) and torch.equal(grey[:, 1], grey[:, 2])
    assert not torch.equal(out[:, 0], out[:, 1])


def test_poisson_noise_scale_and_grey():
    img = 0.3 + 0.4 * torch.rand(2, 3, 48, 48, generator=torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(0)
    weak = add_poisson_noise(img, (0.05, 0.05), 0.0, g)
    strong = add_poisson_noise(img, (3.0, 3.0), 0.0, g)
    assert 10 * float((weak - img).abs().mean()) < float((strong - img).abs().mean())
    assert float(strong.min()) >= 0 and float(strong.max()) <= 1
    noise = add_poisson_noise(img, (0.5, 0.5), 1.0, g) - img  # no clipping at this level
    assert float(noise.abs().mean()) > 1e-3
    torch.testing.assert_close(noise[:, 0], noise[:, 1], atol=1e-6, rtol=0)  # one noise for all channels


def test_batched_jpeg_matches_basicsr_diffjpeg():
    from basicsr.utils import DiffJPEG

    from resshift.data.realesrgan import diff_jpeg

    jpeg = DiffJPEG(differentiable=False).requires_grad_(False)
    img = torch.rand(3, 3, 40, 52, generator=torch.Generator().manual_seed(0))  # not multiples of 16
    quality = torch.tensor([30.0, 49.5, 95.0])
    expected = jpeg(img, quality=quality.clone())
    out = diff_jpeg(jpeg, img, quality)
    assert out.is_contiguous() and out.shape == img.shape
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    assert float((out - img).abs().mean()) > 0.01  # it did compress
