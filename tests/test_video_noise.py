"""Steady noise: one noise field for a whole batch (the sampler's shared_noise) and for every frame of
a video; fresh noise: noise of its own for every frame. Tiny random models, real sampling."""
import numpy as np
import pytest
import torch

from resshift.diffusion import Schedule, sample
from resshift.diffusion.sampler import _draw_all
from resshift.errors import InvalidRequest
from resshift.pipelines import RestoreOptions, super_resolve
from resshift.pipelines.restore import run_model
from resshift.pipelines.video import VideoOptions, frame_seed, restore_frames, sampled_whole
from tests.helpers import tiny_model


@pytest.fixture(scope="module")
def sr():
    return tiny_model("sr")


def _frames(n: int, size: int = 16, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]


def test_shared_draw_is_the_draw_of_a_batch_of_one():
    shape = (3, 4, 8, 8)
    shared = _draw_all(shape, 5, torch.Generator().manual_seed(9), torch.device("cpu"), shared=True)
    alone = _draw_all((1, 4, 8, 8), 5, torch.Generator().manual_seed(9), torch.device("cpu"))
    assert shared.shape == (5, 3, 4, 8, 8)
    for b in range(3):
        assert torch.equal(shared[:, b], alone[:, 0])
    plain = _draw_all(shape, 5, torch.Generator().manual_seed(9), torch.device("cpu"))
    assert not torch.equal(plain[:, 0], plain[:, 1])  # without it every element has its own


def test_sampler_shared_noise_gives_every_batch_element_the_single_image_result(sr):
    schedule = Schedule.create(sr.spec.diffusion, steps=2)
    y = torch.rand(1, 3, 16, 16) * 2 - 1
    batch = y.expand(3, -1, -1, -1).contiguous()

    def run(x, **kw):  # a fresh generator with the same seed for every call
        return sample(sr.unet, x, schedule, sr.spec.diffusion, first_stage=sr.first_stage,
                      generator=torch.Generator().manual_seed(5), **kw)

    alone = run(y)
    shared = run(batch, shared_noise=True)
    fresh = run(batch)
    for b in range(3):
        torch.testing.assert_close(shared[b], alone[0], atol=1e-4, rtol=0)
    assert (fresh[0] - fresh[1]).abs().mean() > 1e-3  # each element drew its own noise


def test_run_model_passes_shared_noise(sr):
    y = (torch.rand(1, 3, 16, 16) * 2 - 1).expand(2, -1, -1, -1).contiguous()
    options = RestoreOptions(seed=3, steps=2).resolve(sr.spec)
    shared = run_model(sr, y, options, shared_noise=True).image
    fresh = run_model(sr, y, options).image
    torch.testing.assert_close(shared[0], shared[1], atol=1e-4, rtol=0)
    assert (fresh[0] - fresh[1]).abs().mean() > 1e-3


def test_steady_frames_match_the_image_pipeline_whatever_the_batch(sr):
    frames = _frames(5)
    options = RestoreOptions(seed=11, steps=2)
    by3 = list(restore_frames(sr, frames, options, VideoOptions(batch_size=3)))
    by1 = list(restore_frames(sr, frames, options, VideoOptions(batch_size=1)))
    assert len(by3) == 5 and by3[0].shape == (64, 64, 3) and by3[0].dtype == np.uint8
    for k in (0, 3, 4):  # first batch, second batch, the short last one
        image = super_resolve(sr, frames[k], options).image  # one frame as a photo, same seed
        assert np.abs(by3[k].astype(int) - image).max() <= 1
        assert np.abs(by1[k].astype(int) - image).max() <= 1


def test_steady_noise_restores_a_still_clip_identically_and_fresh_does_not(sr):
    still = _frames(1) * 4
    steady = list(restore_frames(sr, still, RestoreOptions(seed=2, steps=2), VideoOptions(batch_size=3)))
    fresh = list(restore_frames(sr, still, RestoreOptions(seed=2, steps=2), VideoOptions(noise="fresh", batch_size=3)))
    assert all(np.abs(f.astype(int) - steady[0]).max() <= 1 for f in steady)
    assert np.abs(fresh[0].astype(int) - fresh[1]).mean() > 0.5  # same batch, own noise
    assert np.abs(fresh[0].astype(int) - fresh[3]).mean() > 0.5  # next batch, seed + 3


def test_fresh_seeds_follow_the_frame_index():
    options = RestoreOptions(seed=2 ** 63 - 2)
    assert frame_seed(options, VideoOptions(), 7) == 2 ** 63 - 2
    assert frame_seed(options, VideoOptions(noise="fresh"), 0) == 2 ** 63 - 2
    assert frame_seed(options, VideoOptions(noise="fresh"), 3) == 1  # wraps within 0..2^63-1


def test_frames_larger_than_a_tile_go_one_at_a_time(sr):
    assert sampled_whole(sr, RestoreOptions(), 32, 32)
    assert not sampled_whole(sr, RestoreOptions(tile=16), 64, 64)
    assert sampled_whole(sr, RestoreOptions(tile=0), 4096, 4096)
    # tiled frames with steady noise: one seed, one tile layout, so a still clip stays still
    still = _frames(1, size=32) * 3
    out = list(restore_frames(sr, still, RestoreOptions(seed=4, steps=1, tile=16), VideoOptions(batch_size=4)))
    assert out[0].shape == (128, 128, 3)
    assert all(np.array_equal(f, out[0]) for f in out)


@pytest.mark.parametrize("kwargs, words", [
    ({"noise": "still"}, "noise must be steady or fresh; got 'still'"),
    ({"batch_size": 0}, "the batch size must be from 1 to 64 frames; got 0"),
    ({"batch_size": 2.5}, "batch_size must be a whole number, got 2.5"),
    ({"crf": 60}, "crf must be from 0 (lossless) to 51; got 60"),
    ({"preset": "warp"}, "preset must be one of ultrafast"),
])
def test_video_options_are_checked(kwargs, words):
    with pytest.raises(InvalidRequest) as err:
        VideoOptions(**kwargs)
    assert str(err.value).startswith(words)


def test_frames_of_another_size_are_refused(sr):
    frames = _frames(2) + _frames(1, size=32)
    with pytest.raises(InvalidRequest, match=r"frame 2 is \(32, 32, 3\); the first was \(16, 16, 3\)"):
        list(restore_frames(sr, frames, RestoreOptions(seed=1, steps=1), VideoOptions(batch_size=1)))
