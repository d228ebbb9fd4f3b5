"""The studio's limit on work (studio/limits.py, RESSHIFT_MAX_WORK): thin images, whose padding
the model samples in vain, are refused with a sentence saying why; every input of a usual shape
within the pixel limits still runs, for every registered model, on CPU and GPU defaults."""
import pytest

from resshift.pipelines import RestoreOptions
from resshift.weights.lite import LITE_MODELS
from resshift.weights.registry import OFFICIAL_MODELS
from studio.limits import LimitExceeded, Limits

SPECS = {spec.name: spec for spec in OFFICIAL_MODELS + LITE_MODELS}
# one spec per architecture and schedule of the SR and inpainting models (the others share them)
SWEPT = ["realsr-v3", "realsr-v2", "sinsr", "inpaint-imagenet", "lite-sr", "lite-inpaint"]


def _check(limits: Limits, name: str, size, device: str, **options) -> None:
    spec = SPECS[name]
    limits.check_work(spec.task, spec, size, RestoreOptions(**options).resolve(spec), device)


@pytest.mark.parametrize("size,padded,like", [((4, 16384), "64x16384", "896x896"), ((1, 5000), "64x5056", "512x512")])
def test_the_audit_thin_images_are_refused_with_the_reason(size, padded, like):
    with pytest.raises(LimitExceeded) as err:
        _check(Limits.defaults("cpu"), "realsr-v3", size, "cpu")
    text = str(err.value)
    assert f"This image is {size[0]}x{size[1]} pixels, a very thin shape" in text
    assert f"multiples of 64 pixels, so it would be padded to {padded}" in text
    assert f"as long as an image of {like} pixels" in text
    assert "at most the work of one of 320x320 pixels (2.5 times that of 256x256)" in text
    assert "Crop it into pieces closer to square" in text and "RESSHIFT_MAX_WORK" in text


def test_settings_that_multiply_the_work_are_refused_with_the_reason():
    """No tiling on a 512x512 input on CPU: the autoencoder's attention over the whole image."""
    limits = Limits.defaults("cpu")
    _check(limits, "realsr-v3", (512, 512), "cpu")  # the default tiles: fine
    with pytest.raises(LimitExceeded, match="with these settings realsr-v3 would take about as long, at 4 steps, "
                                            "as an image of 832x832 pixels with the default tiles.*'auto'"):
        _check(limits, "realsr-v3", (512, 512), "cpu", tile=0)


def test_thin_images_without_wasted_padding_run():
    """In proportion to their pixels: a strip as tall as the model's multiple wastes nothing."""
    _check(Limits.defaults("cpu"), "realsr-v3", (64, 4096), "cpu")
    _check(Limits.defaults("cuda"), "realsr-v3", (1, 5000), "cuda")  # the GPU's floor: a 512x512 image


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("name", SWEPT)
def test_every_usual_shape_within_the_pixel_limits_runs(name, device):
    """Aspect ratios up to 4:1, both orientations, from 16 px to the task's pixel limit, at the
    model's default and trained steps."""
    limits = Limits.defaults(device)
    spec = SPECS[name]
    limit = limits.max_pixels[spec.task]
    checked = 0
    for aspect in (1.0, 4 / 3, 16 / 9, 2.0, 3.0, 4.0):
        for width in range(16, 4096, 29):
            height = round(width / aspect)
            if height < 16 or width * height > limit:
                continue
            for size in ((width, height), (height, width)):
                for steps in {spec.default_steps, spec.diffusion.steps}:
                    _check(limits, name, size, device, steps=steps)
                    checked += 1
    assert checked > 100


def test_the_work_limit_is_set_by_the_environment_and_stated_in_the_footer():
    assert Limits.defaults("cpu").max_work == Limits.defaults("cuda").max_work == 2.5
    assert Limits.from_env("cpu", {"RESSHIFT_MAX_WORK": "4"}).max_work == 4.0
    off = Limits.from_env("cpu", {"RESSHIFT_MAX_WORK": "0"})
    assert off.max_work is None and "work up to" not in off.summary()
    _check(off, "realsr-v3", (4, 16384), "cpu")  # no limit: not refused
    with pytest.raises(ValueError, match="at least 1"):
        Limits.from_env("cpu", {"RESSHIFT_MAX_WORK": "0.5"})
    assert "work up to 2.5x that of a square image with as many pixels (very thin images are padded" in \
        Limits.defaults("cpu").summary()
