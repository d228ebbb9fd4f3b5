"""restore_video: real clips made with PyAV, restored by tiny random models into MP4 files, and
bad files refused with a sentence before any frame is decoded."""
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from resshift.errors import InvalidRequest
from resshift.media import InvalidVideoError, VideoWriter, probe, read_frames
from resshift.pipelines import PhotoOptions, RestoreOptions
from resshift.pipelines import video as video_module
from resshift.pipelines.video import VideoLimits, VideoOptions, restore_frames, restore_video
from resshift.runtime.progress import Cancelled, CancelToken
from tests.helpers import DATA, tiny_model
from tests.media_clips import audio_seconds, make_audio_only, make_clip

ANY = {"max_seconds": 60, "max_pixels": 10 ** 8, "min_side": 1}


@pytest.fixture(scope="module")
def sr():
    return tiny_model("sr")


@pytest.fixture(scope="module")
def face():
    return tiny_model("face")


def _clip_of(frames: list[np.ndarray], path: Path, fps=25) -> Path:
    """A losslessly coded clip of these RGB frames (x264 with crf 0; 4:2:0 chroma), no audio."""
    with VideoWriter(path, fps=fps, crf=0, preset="ultrafast") as writer:
        for frame in frames:
            writer.write(frame)
    return path


def test_a_clip_is_upscaled_with_its_audio_rotation_and_rate(sr, tmp_path):
    src = make_clip(tmp_path / "clip.mp4", n=5, width=32, height=24, rotation=90, fps=Fraction(30000, 1001))
    out = tmp_path / "clip_x4.mp4"
    events, frames_done = [], []
    result = restore_video(sr, src, out, RestoreOptions(seed=5, steps=1), VideoOptions(batch_size=2, crf=0),
                           callback=events.append, on_frame=lambda d, t: frames_done.append((d, t)))
    info = probe(out, **ANY)
    assert (info.width, info.height, info.rotation) == (128, 96, 90)
    assert info.fps == Fraction(30000, 1001) and info.has_audio and info.audio_codec == "aac"
    assert abs(audio_seconds(out) - audio_seconds(src)) < 0.05
    restored = list(read_frames(out))
    assert len(restored) == 5
    facts = result.facts()
    assert facts["frames"] == 5 and facts["noise"] == "steady" and facts["audio"] == "copied"
    assert facts["fps"] == "30000/1001" and facts["rotation"] == 90 and facts["input_size"] == "32x24"
    assert facts["size"] == "128x96" and facts["seed"] == 5 and facts["steps"] == 1
    assert facts["video"] == str(out) and result.image.shape == (96, 128, 3)
    assert frames_done == [(0, 5), (2, 5), (4, 5), (5, 5)]
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert any(e.describe() == "frames 3-4 of 5: step 1/1" for e in events)
    # the file holds what restore_frames makes of the decoded frames (within H.264's 4:2:0 coding)
    decoded = list(read_frames(src))
    expected = list(restore_frames(sr, decoded, RestoreOptions(seed=5, steps=1), VideoOptions(batch_size=2)))
    assert np.array_equal(result.image, expected[0])
    for got, want in zip(restored, expected):
        assert np.abs(got.astype(int) - want).mean() < 3


def test_steady_noise_keeps_a_still_clip_still_in_the_file(sr, tmp_path):
    rng = np.random.default_rng(1)
    still = _clip_of([rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)] * 5, tmp_path / "still.mp4")
    spread = {}
    for noise in ("steady", "fresh"):
        out = tmp_path / f"{noise}.mp4"
        restore_video(sr, still, out, RestoreOptions(seed=3, steps=1), VideoOptions(noise=noise, batch_size=2, crf=0))
        frames = [f.astype(int) for f in read_frames(out)]
        spread[noise] = max(np.abs(f - frames[0]).mean() for f in frames[1:])
    assert spread["steady"] < 0.5 < spread["fresh"]


def test_aligned_face_clip(face, tmp_path):
    rng = np.random.default_rng(2)
    src = _clip_of([rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)] * 2, tmp_path / "face.mp4")
    result = restore_video(face, src, tmp_path / "out.mp4", RestoreOptions(seed=1, steps=1), VideoOptions(batch_size=2))
    assert result.facts()["size"] == "64x64" and result.facts()["frames"] == 2 and result.facts()["audio"] == "none"
    assert len(list(read_frames(tmp_path / "out.mp4"))) == 2


def test_whole_frame_faces_are_found_restored_and_scaled(face, tmp_path):
    portrait = np.asarray(Image.open(DATA / "faces" / "portrait_deepface_img12.jpg").convert("RGB").resize((280, 208)))
    src = _clip_of([portrait] * 2, tmp_path / "talk.mp4")
    out = tmp_path / "talk_x2.mp4"
    events = []
    result = restore_video(face, src, out, RestoreOptions(seed=1, steps=1), photo=PhotoOptions(scale=2),
                           callback=events.append)
    info = probe(out, **ANY)
    facts = result.facts()
    assert (info.width, info.height) == (560, 416) and facts["scale"] == 2
    assert facts["faces"] == 2 and facts["frames_with_faces"] == 2
    assert result.message == "Restored 2 faces in 2 of 2 frames."
    assert any("Restoring" in e.describe() or "step 1/1" in e.describe() for e in events)
    # the face area changed (restored by the random model), the frame around it kept its place
    first = next(read_frames(out)).astype(int)
    background = np.asarray(Image.fromarray(portrait).resize((560, 416), Image.LANCZOS)).astype(int)
    assert np.abs(first - background)[:40].mean() < 6 < np.abs(first - background).max()


def test_cancel_between_frames_writes_nothing(sr, tmp_path):
    src = make_clip(tmp_path / "clip.mp4", n=6, width=16, height=16, audio=None)
    token = CancelToken()
    out = tmp_path / "out" / "clip.mp4"
    out.parent.mkdir()

    def on_frame(done, total):
        if done >= 2:
            token.cancel()

    with pytest.raises(Cancelled):
        restore_video(sr, src, out, RestoreOptions(seed=1, steps=1), VideoOptions(batch_size=2), on_frame=on_frame,
                      cancel=token)
    assert list(out.parent.iterdir()) == []  # no output, no temporary file


def _truncate(path: Path, fraction: float = 0.6) -> Path:
    data = path.read_bytes()
    cut = path.with_name("cut_" + path.name)
    cut.write_bytes(data[:int(len(data) * fraction)])
    return cut


@pytest.mark.parametrize("make, words", [
    (lambda d: _truncate(make_clip(d / "fast.mp4", n=50, width=64, height=48, faststart=True)),
     r"^cut_fast\.mp4 is truncated: its index points to data up to byte"),
    (lambda d: _truncate(make_clip(d / "slow.mp4", n=50, width=64, height=48)),
     r"^cut_slow\.mp4 is not a video file that can be read: it is damaged, truncated"),
    (lambda d: make_clip(d / "dot.mkv", n=3, width=1, height=1, audio=None, video_codec="ffv1", pix_fmt="yuv444p"),
     r"^the frames of dot\.mkv are 1x1 pixels; each side must be at least 16 pixels$"),
    (lambda d: make_clip(d / "long.mp4", n=25, width=16, height=16, fps=Fraction(1, 600), audio=None),
     r"^long\.mp4 lasts 4\.2 hours; the limit is 10\.0 minutes\. Trim it and try again\.$"),
    (lambda d: make_audio_only(d / "song.m4a"), r"^song\.m4a has no video stream: it holds only audio$"),
    (lambda d: make_clip(d / "big.mp4", n=2, width=1280, height=1088, audio=None),
     r"^the frames of big\.mp4 are 1280x1088 = 1\.39 megapixels; the limit is 1\.00 megapixels"),
])
def test_bad_videos_are_refused_with_a_sentence_and_nothing_written(sr, tmp_path, make, words):
    src = make(tmp_path)
    out = tmp_path / "out" / "x.mp4"
    out.parent.mkdir()
    with pytest.raises(InvalidVideoError, match=words):
        restore_video(sr, src, out, RestoreOptions(seed=1, steps=1), limits=VideoLimits(max_pixels=1_000_000))
    assert list(out.parent.iterdir()) == []


def test_a_four_hour_video_is_refused_before_decoding(sr, tmp_path, monkeypatch):
    src = make_clip(tmp_path / "long.mp4", n=25, width=16, height=16, fps=Fraction(1, 600), audio=None)
    reads = []
    real = video_module.read_batches
    monkeypatch.setattr(video_module, "read_batches", lambda *a, **k: reads.append(a) or real(*a, **k))
    with pytest.raises(InvalidVideoError, match="lasts 4.2 hours"):
        restore_video(sr, src, tmp_path / "o.mp4", RestoreOptions(seed=1, steps=1))
    assert reads == []  # refused from the headers: the frames were never read


def test_restored_frames_over_the_output_limit_are_refused(sr, tmp_path):
    src = make_clip(tmp_path / "clip.mp4", n=2, width=32, height=32, audio=None)
    with pytest.raises(InvalidVideoError, match=r"^the restored frames of clip\.mp4 would be 128x128 pixels; "
                                                r"the limit is 0\.01 megapixels per frame"):
        restore_video(sr, src, tmp_path / "o.mp4", RestoreOptions(seed=1, steps=1),
                      limits=VideoLimits(max_output_pixels=10_000))


def test_requests_a_video_cannot_take(sr, face, tmp_path):
    src = make_clip(tmp_path / "wide.mp4", n=2, width=64, height=32, audio=None)
    with pytest.raises(InvalidVideoError, match=r"^the frames of wide\.mp4 are 64x32; a video of aligned faces has "
                                                r"square frames \(512x512\)\. Use whole-photo mode"):
        restore_video(face, src, tmp_path / "o.mp4", RestoreOptions(seed=1, steps=1))
    with pytest.raises(InvalidRequest, match="videos are restored by super-resolution or face models; "
                                             "tiny-inpaint is an inpainting model"):
        restore_video(tiny_model("inpaint"), src, tmp_path / "o.mp4")
    with pytest.raises(InvalidRequest, match="steps must be between 1 and"):
        restore_video(sr, src, tmp_path / "o.mp4", RestoreOptions(steps=99))
