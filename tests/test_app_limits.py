"""The studio's request limits: defaults, environment overrides and the messages users read."""
import pytest

from studio.limits import LimitExceeded, Limits, describe_pixels, parse_pixels


def test_parse_pixels_accepts_sizes_and_counts():
    assert parse_pixels("512x512") == 262144
    assert parse_pixels(" 1024 X 768 ") == 786432
    assert parse_pixels("1000") == 1000
    with pytest.raises(ValueError):
        parse_pixels("big")
    with pytest.raises(ValueError):
        parse_pixels("0x10")


def test_describe_pixels():
    assert describe_pixels(512 * 512) == "512x512 (0.26 megapixels)"
    assert describe_pixels(1_500_000) == "1.50 megapixels"


def test_cpu_defaults_are_smaller_than_gpu_defaults():
    cpu, gpu = Limits.defaults("cpu"), Limits.defaults("cuda")
    assert cpu.max_pixels["sr"] == 512 * 512
    for task in ("sr", "inpaint", "face"):
        assert cpu.max_pixels[task] < gpu.max_pixels[task]
    assert cpu.hardware == "CPU" and gpu.hardware == "GPU"


def test_environment_overrides():
    env = {"RESSHIFT_MAX_PIXELS_SR": "64x64", "RESSHIFT_MAX_UPLOAD_MB": "1.5",
           "RESSHIFT_REQUEST_TIMEOUT": "0", "RESSHIFT_QUEUE_SIZE": "3", "RESSHIFT_MAX_COMPARE": "5",
           "RESSHIFT_MAX_PIXELS_FACE": ""}
    limits = Limits.from_env("cpu", env)
    assert limits.max_pixels["sr"] == 4096
    assert limits.max_pixels["face"] == Limits.defaults("cpu").max_pixels["face"]  # empty = default
    assert limits.max_upload_bytes == int(1.5 * (1 << 20))
    assert limits.request_timeout is None
    assert limits.queue_size == 3 and limits.max_compare == 5


def test_bad_environment_value_names_the_variable():
    with pytest.raises(ValueError, match="RESSHIFT_MAX_PIXELS_INPAINT"):
        Limits.from_env("cpu", {"RESSHIFT_MAX_PIXELS_INPAINT": "huge"})


def test_pixel_limit_message_says_size_limit_and_what_to_do():
    limits = Limits.from_env("cpu", {"RESSHIFT_MAX_PIXELS_SR": "100x100"})
    limits.check_input("sr", 100, 100, scale=4)  # exactly at the limit is fine
    with pytest.raises(LimitExceeded) as err:
        limits.check_input("sr", 120, 90, scale=4)
    text = str(err.value)
    assert "120x90" in text and "480x360" in text  # the input and the result it would give
    assert "100x100" in text and "Super-resolution" in text
    assert "Crop or downscale" in text and "RESSHIFT_MAX_PIXELS_SR" in text


def test_output_limit_counts_the_scale():
    limits = Limits.from_env("cpu", {"RESSHIFT_MAX_OUTPUT_PIXELS": "200x200"})
    limits.check_input("face", 100, 100, scale=2)
    with pytest.raises(LimitExceeded, match="400x400"):
        limits.check_input("face", 100, 100, scale=4)


def test_upload_limit_message():
    limits = Limits.from_env("cpu", {"RESSHIFT_MAX_UPLOAD_MB": "1"})
    limits.check_upload(1 << 20)
    with pytest.raises(LimitExceeded, match=r"2\.0 MB.*up to 1 MB"):
        limits.check_upload(2 << 20)


def test_summary_mentions_every_task():
    text = Limits.defaults("cpu").summary()
    assert "super-resolution 512x512" in text and "inpainting" in text and "face restoration" in text
