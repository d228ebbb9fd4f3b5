"""LaMa-style inpainting masks: binary, 1 = missing, area in range, seeded."""
import numpy as np
import pytest

from resshift.data import InpaintMasks, MaskConfig, random_mask


@pytest.mark.parametrize("kind_probs", [(1, 0, 0), (0, 1, 0), (0, 0, 1), (0.5, 0.3, 0.2)])
@pytest.mark.parametrize("shape", [(64, 64), (96, 128)])
def test_masks_are_binary_and_in_area_range(kind_probs, shape):
    cfg = MaskConfig(area_range=(0.1, 0.4), kind_probs=kind_probs)
    for seed in range(12):
        mask = random_mask(*shape, cfg, np.random.default_rng(seed))
        assert mask.shape == shape and mask.dtype == np.float32
        assert set(np.unique(mask)) <= {0.0, 1.0}
        assert 0.1 <= mask.mean() <= 0.4


def test_kinds_look_different():
    rng = np.random.default_rng(0)
    outpaint = random_mask(64, 64, MaskConfig(kind_probs=(0, 0, 1), area_range=(0.01, 0.9)), rng)
    border = np.concatenate([outpaint[0], outpaint[-1], outpaint[:, 0], outpaint[:, -1]])
    assert border.max() == 1.0 and outpaint[32, 32] == 0.0  # missing borders, known centre
    box = random_mask(64, 64, MaskConfig(kind_probs=(0, 1, 0), box_count=(1, 1), area_range=(0.01, 0.9),
                                         box_margin=10), rng)
    rows, cols = np.nonzero(box)
    assert box[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()  # one solid rectangle


def test_same_seed_same_mask():
    cfg = MaskConfig()
    a = random_mask(64, 80, cfg, np.random.default_rng(4))
    b = random_mask(64, 80, cfg, np.random.default_rng(4))
    c = random_mask(64, 80, cfg, np.random.default_rng(5))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_narrow_range_falls_back_to_a_rectangle_in_range():
    cfg = MaskConfig(area_range=(0.30, 0.32), max_tries=1)
    for seed in range(10):
        mask = random_mask(50, 70, cfg, np.random.default_rng(seed))
        assert 0.30 <= mask.mean() <= 0.32


def test_impossible_range_is_refused():
    with pytest.raises(ValueError, match="admits no mask"):
        random_mask(8, 8, MaskConfig(area_range=(0.30, 0.32)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="area_range"):
        MaskConfig(area_range=(0.5, 0.2))


def test_transform_output():
    out = InpaintMasks(MaskConfig(area_range=(0.2, 0.3)))(np.zeros((48, 64, 3), np.float32),
                                                          np.random.default_rng(1))
    mask = out["mask"]
    assert tuple(mask.shape) == (1, 48, 64)
    assert 0.2 <= float(mask.mean()) <= 0.3
