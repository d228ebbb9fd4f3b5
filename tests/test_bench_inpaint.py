"""The painted-out-logo picture (`python -m benchmarks.inpaint_logo`) masks what a user would paint."""
import numpy as np

from benchmarks.inpaint_logo import logo_mask


def _surface(value: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.clip(value + rng.normal(0, 3, (96, 96, 3)), 0, 255).astype(np.uint8)


def test_a_raised_bright_logo_is_masked_with_its_drop_shadow():
    photo = _surface(70)
    photo[40:50, 20:70] = 240  # the lettering
    photo[50:56, 20:70] = 40  # its shadow below, darker than the fabric
    mask = logo_mask(photo, (10, 30, 80, 66), bright=True)
    assert mask[40:56, 20:70].all()
    assert mask[56:61, 20:70].all()  # the 5 px brush margin below the shadow
    assert not mask[:30].any() and not mask[70:].any()  # the fabric around stays


def test_a_dark_logo_is_masked_inside_its_box_only():
    photo = _surface(200)
    photo[20:30, 20:40] = 90
    photo[70:80, 70:90] = 90  # outside the box: not the logo
    mask = logo_mask(photo, (10, 10, 50, 40), bright=False)
    assert mask[20:30, 20:40].all() and mask[15:35, 15:45].all()
    assert not mask[60:].any()
