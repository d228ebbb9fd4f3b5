"""GFPGAN-style face degradation (per sample, numpy/OpenCV)."""
from pathlib import Path

import numpy as np
import pytest
import torch

from resshift.runtime.compat import install_torchvision_compat
from resshift.data import FaceDegradation, FaceDegradationConfig, degrade_face
from resshift.data.folder import load_rgb

install_torchvision_compat()  # before basicsr is imported
from basicsr.metrics import calculate_psnr  # noqa: E402  (0-255 images: ours in [0, 1] are scaled)

DATA = Path(__file__).parent / "data" / "natural"


@pytest.fixture(scope="module")
def face():
    return load_rgb(DATA / "american_coot.jpg").astype(np.float32) / 255.0  # 96 x 128, not square


def test_shapes_range_and_levels(face):
    gt, lq = degrade_face(face, FaceDegradationConfig(), np.random.default_rng(0))
    assert gt.shape == lq.shape == face.shape and lq.dtype == np.float32
    assert lq.min() >= 0 and lq.max() <= 1
    assert np.allclose(lq * 255, np.round(lq * 255), atol=1e-4)


def test_degradation_changes_the_face(face):
    for seed in range(4):
        _, lq = degrade_face(face, FaceDegradationConfig(), np.random.default_rng(seed))
        assert calculate_psnr(lq * 255, face * 255, 0) < 35


def test_stronger_settings_degrade_more(face):
    mild = FaceDegradationConfig(sigma_range=(0.2, 0.2), downsample_range=(1, 1), noise_range=(0, 0),
                                 jpeg_range=(95, 95), gray_prob=0)
    hard = FaceDegradationConfig(sigma_range=(6, 6), downsample_range=(8, 8), noise_range=(15, 15),
                                 jpeg_range=(30, 30), gray_prob=0)
    _, a = degrade_face(face, mild, np.random.default_rng(0))
    _, b = degrade_face(face, hard, np.random.default_rng(0))
    assert calculate_psnr(a * 255, face * 255, 0) > 30 > calculate_psnr(b * 255, face * 255, 0) + 5


def test_grey_conversion(face):
    gt, lq = degrade_face(face, FaceDegradationConfig(gray_prob=1.0), np.random.default_rng(0))
    assert np.array_equal(lq[..., 0], lq[..., 1]) and np.array_equal(lq[..., 1], lq[..., 2])
    assert np.allclose(gt[..., 0], gt[..., 2])
    gt_colour, _ = degrade_face(face, FaceDegradationConfig(gray_prob=1.0, gt_gray=False), np.random.default_rng(0))
    assert np.array_equal(gt_colour, face)


def test_same_seed_same_output(face):
    cfg = FaceDegradationConfig()
    a = degrade_face(face, cfg, np.random.default_rng(3))[1]
    b = degrade_face(face, cfg, np.random.default_rng(3))[1]
    c = degrade_face(face, cfg, np.random.default_rng(4))[1]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_transform_tensors(face):
    out = FaceDegradation()(face, np.random.default_rng(0))
    assert tuple(out["lq"].shape) == (3, 96, 128) and tuple(out["gt"].shape) == (3, 96, 128)
    assert float(out["lq"].min()) >= 0 and float(out["lq"].max()) <= 1


def test_config_validation():
    with pytest.raises(ValueError, match="kernel_size"):
        FaceDegradationConfig(kernel_size=40)
    with pytest.raises(ValueError, match="jpeg_range"):
        FaceDegradationConfig(jpeg_range=(50, 120))
    assert FaceDegradationConfig.from_dict({"downsample_range": [1, 32]}).downsample_range == (1.0, 32.0)


def test_uint8_transform_is_lossless_for_lq(face):
    wide = FaceDegradation()(face, np.random.default_rng(2))
    small = FaceDegradation(uint8=True)(face, np.random.default_rng(2))
    assert small["lq"].dtype == torch.uint8
    assert torch.allclose(small["lq"].float() / 255, wide["lq"], atol=1e-6)
    assert torch.allclose(small["gt"].float() / 255, wide["gt"], atol=0.5 / 255 + 1e-6)
