"""resshift.data.folder: listing, crops, per-sample seeded randomness."""
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from resshift.data import CropConfig, ImageFolder, list_images, random_crop

DATA = Path(__file__).parent / "data" / "natural"


def test_list_images_filters_and_sorts(tmp_path):
    for name, fmt in (("b.PNG", "PNG"), ("a.jpg", "JPEG"), ("c.webp", "WEBP"), ("d.JPEG", "JPEG")):
        Image.new("RGB", (8, 8)).save(tmp_path / name, format=fmt)
    (tmp_path / "notes.txt").write_text("not an image")
    names = [p.name for p in list_images(tmp_path)]
    assert names == ["a.jpg", "b.PNG", "c.webp", "d.JPEG"]


def test_list_images_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        list_images(tmp_path / "missing")
    with pytest.raises(ValueError, match="no images"):
        list_images(tmp_path)


def test_crop_shapes_range_and_dtype():
    ds = ImageFolder(DATA, CropConfig(64), seed=3)
    assert len(ds) == 5
    sample = ds[0]
    gt = sample["gt"]
    assert gt.shape == (3, 64, 64) and gt.dtype == torch.float32
    assert 0.0 <= float(gt.min()) and float(gt.max()) <= 1.0 and float(gt.std()) > 0.02


def test_same_seed_same_sample_and_indices_differ():
    a = ImageFolder(DATA, CropConfig(48, scale_range=(0.5, 1.0)), seed=7)
    b = ImageFolder(DATA, CropConfig(48, scale_range=(0.5, 1.0)), seed=7)
    c = ImageFolder(DATA, CropConfig(48, scale_range=(0.5, 1.0)), seed=8)
    assert torch.equal(a[11]["gt"], b[11]["gt"])
    assert not torch.equal(a[11]["gt"], c[11]["gt"])
    assert not torch.equal(a[11]["gt"], a[12]["gt"])


def test_virtual_length_covers_every_image_each_epoch():
    ds = ImageFolder(DATA, CropConfig(32), seed=0, length=15)
    for epoch in range(3):
        assert sorted(ds.image_index(epoch * 5 + i) for i in range(5)) == list(range(5))
    assert [ds.image_index(i) for i in range(5)] != [ds.image_index(5 + i) for i in range(5)]


def test_small_images_are_upscaled_not_padded():
    image = np.zeros((20, 30, 3), dtype=np.uint8)
    image[:, 15:] = 255
    out = random_crop(image, CropConfig(40, hflip=False), np.random.default_rng(0))
    assert out.shape == (40, 40, 3)
    assert out.min() == 0 and out.max() == 255  # content, not a padding colour
    assert abs(float(out.mean()) / 255 - 0.5) < 0.3


def test_center_and_resize_modes():
    image = np.arange(60 * 80 * 3, dtype=np.uint8).reshape(60, 80, 3)
    rng = np.random.default_rng(0)
    center = random_crop(image, CropConfig(40, mode="center", hflip=False), rng)
    assert np.array_equal(center, image[10:50, 20:60])
    resized = random_crop(image, CropConfig(32, mode="resize", hflip=False), rng)
    assert resized.shape == (32, 32, 3)


def test_crop_config_validation():
    with pytest.raises(ValueError, match="crop mode"):
        CropConfig(32, mode="tile")
    with pytest.raises(ValueError, match="scale_range"):
        CropConfig(32, scale_range=(1.0, 0.5))


def test_transform_receives_the_crop_and_sample_rng():
    seen = []

    def transform(gt, rng):
        seen.append(gt.copy())
        return {"extra": torch.tensor(rng.random())}

    ds = ImageFolder(DATA, CropConfig(32), seed=1, transform=transform)
    s1, s2 = ds[2], ds[2]
    assert float(s1["extra"]) == float(s2["extra"])
    np.testing.assert_allclose(seen[0].transpose(2, 0, 1), s1["gt"].numpy(), atol=1e-6)


def test_cache_gives_the_same_samples():
    plain = ImageFolder(DATA, CropConfig(40), seed=5)
    cached = ImageFolder(DATA, CropConfig(40), seed=5, cache=True)
    for i in (0, 3, 9):
        assert torch.equal(plain[i]["gt"], cached[i]["gt"])


def test_workers_do_not_change_the_data():
    ds = ImageFolder(DATA, CropConfig(32), seed=2, length=8)
    one = [b["gt"] for b in DataLoader(ds, batch_size=4, num_workers=0)]
    two = [b["gt"] for b in DataLoader(ds, batch_size=4, num_workers=2)]
    assert all(torch.equal(a, b) for a, b in zip(one, two))


def test_uint8_samples_carry_the_same_pixels():
    plain = ImageFolder(DATA, CropConfig(40), seed=5)
    small = ImageFolder(DATA, CropConfig(40), seed=5, uint8=True)
    gt8 = small[4]["gt"]
    assert gt8.dtype == torch.uint8 and gt8.shape == (3, 40, 40)
    assert torch.equal(gt8.float() / 255, plain[4]["gt"])
