"""resshift.media.video: probing (and refusing) videos and decoding their frames, on tiny clips made
with PyAV."""
from __future__ import annotations

import logging
from fractions import Fraction

import numpy as np
import pytest

from resshift.media import InvalidMediaError, InvalidVideoError, probe, read_batches, read_frames

from tests.media_clips import level, make_audio_only, make_clip

LIMITS = dict(max_seconds=600, max_pixels=4096 * 2160, min_side=8)


def test_probe_describes_a_clip(tmp_path):
    path = make_clip(tmp_path / "clip.mp4", n=20, width=64, height=48, fps=25, rotation=90)
    info = probe(path, **LIMITS)
    assert (info.width, info.height) == (64, 48)
    assert info.display_size == (48, 64)
    assert info.fps == Fraction(25)
    assert info.frame_count == 20
    assert info.duration == pytest.approx(0.8, abs=0.05)
    assert info.rotation == 90 and info.sample_aspect_ratio == 1
    assert info.has_audio and info.audio_codec == "aac"
    assert info.video_codec == "h264"
    assert "mp4" in info.container


def test_probe_reads_an_ntsc_rate_exactly_and_no_audio(tmp_path):
    path = make_clip(tmp_path / "ntsc.mkv", n=6, fps=Fraction(30000, 1001), audio=None)
    info = probe(path, **LIMITS)
    assert info.fps == Fraction(30000, 1001)
    assert info.rotation == 0
    assert not info.has_audio and info.audio_codec is None


def test_read_frames_gives_every_frame_as_stored_rgb(tmp_path):
    path = make_clip(tmp_path / "clip.mp4", n=12, width=64, height=48, rotation=270)
    frames = list(read_frames(path))
    assert len(frames) == 12
    for i, frame in enumerate(frames):
        assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8  # rotation not applied
        assert abs(float(frame.mean()) - level(i)) < 3


def test_read_batches_groups_frames(tmp_path):
    path = make_clip(tmp_path / "clip.mp4", n=10, audio=None)
    batches = list(read_batches(path, 4))
    assert [b.shape for b in batches] == [(4, 48, 64, 3), (4, 48, 64, 3), (2, 48, 64, 3)]
    assert abs(float(batches[2][1].mean()) - level(9)) < 3
    with pytest.raises(ValueError, match="batch_size"):
        next(read_batches(path, 0))


def test_read_frames_stops_a_video_longer_than_its_limit(tmp_path):
    path = make_clip(tmp_path / "clip.mp4", n=20, fps=25, audio=None)
    frames = []
    with pytest.raises(InvalidVideoError, match=r"more frames than 0\.2 seconds allow at 25 frames "
                                                r"per second; decoding stopped after 6 frames"):
        for frame in read_frames(path, max_seconds=0.2):
            frames.append(frame)
    assert len(frames) == 6  # ceil(0.2 * 25) + 1


def test_a_four_hour_video_is_refused_from_its_metadata(tmp_path):
    # 25 frames of 10 minutes each: a 4.2-hour video in 2 kB
    path = make_clip(tmp_path / "long.mp4", n=25, width=16, height=16, fps=Fraction(1, 600),
                     audio=None)
    assert path.stat().st_size < 10_000
    with pytest.raises(InvalidVideoError, match=r"^long\.mp4 lasts 4\.2 hours; the limit is "
                                                r"10\.0 minutes\. Trim it and try again\.$"):
        probe(path, **LIMITS)


def test_one_pixel_frames_are_refused(tmp_path):
    # libx264 needs even sides; FFV1 stores a 1x1 frame
    path = make_clip(tmp_path / "dot.mkv", n=3, width=1, height=1, audio=None, video_codec="ffv1",
                     pix_fmt="yuv444p")
    with pytest.raises(InvalidVideoError, match=r"^the frames of dot\.mkv are 1x1 pixels; each side "
                                                r"must be at least 8 pixels$"):
        probe(path, **LIMITS)


def test_frames_over_the_pixel_limit_are_refused(tmp_path):
    path = make_clip(tmp_path / "big.mp4", n=2, width=640, height=480, audio=None)
    with pytest.raises(InvalidVideoError, match=r"640x480 = 307,200 pixels; the limit is 300,000 "
                                                r"pixels per frame"):
        probe(path, max_seconds=60, max_pixels=300_000, min_side=8)


def test_audio_only_file_is_refused(tmp_path):
    path = make_audio_only(tmp_path / "song.m4a")
    with pytest.raises(InvalidVideoError, match=r"^song\.m4a has no video stream: it holds only "
                                                r"audio$"):
        probe(path, **LIMITS)


def test_non_video_files_are_refused(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 100)
    with pytest.raises(InvalidVideoError, match=r"^notes\.mp4 is not a video file that can be read"):
        probe(text, **LIMITS)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(InvalidVideoError, match=r"^empty\.mp4 is empty \(0 bytes\)$"):
        probe(empty, **LIMITS)
    with pytest.raises(InvalidVideoError, match="no such file"):
        probe(tmp_path / "missing.mp4", **LIMITS)
    from PIL import Image
    Image.new("RGB", (32, 32)).save(tmp_path / "photo.png")
    with pytest.raises(InvalidVideoError, match=r"^photo\.png is a still image, not a video$"):
        probe(tmp_path / "photo.png", **LIMITS)
    # one family: callers catch ValueError or InvalidMediaError
    assert issubclass(InvalidVideoError, InvalidMediaError) and issubclass(InvalidVideoError, ValueError)


def test_a_codec_without_decoder_is_refused(tmp_path):
    path = make_clip(tmp_path / "clip.mp4", n=3, audio=None)
    data = path.read_bytes()
    assert data.count(b"avc1") >= 1
    odd = tmp_path / "odd.mp4"
    odd.write_bytes(data.replace(b"avc1", b"qqq9"))  # a sample-entry code no decoder knows
    with pytest.raises(InvalidVideoError, match=r"^the video stream of odd\.mp4 uses a codec this "
                                                r"server cannot decode$"):
        probe(odd, **LIMITS)


def _truncate(path, fraction=0.6):
    data = path.read_bytes()
    cut = path.with_name("cut_" + path.name)
    cut.write_bytes(data[:int(len(data) * fraction)])
    return cut


def test_truncated_mp4_is_refused_by_probe_from_its_index(tmp_path):
    # index (moov) first: the index survives and points past the end
    cut = _truncate(make_clip(tmp_path / "fast.mp4", n=50, width=128, height=96, faststart=True))
    with pytest.raises(InvalidVideoError, match=r"^cut_fast\.mp4 is truncated: its index points to "
                                                r"data up to byte [\d,]+, but the file ends at byte"):
        probe(cut, **LIMITS)
    # index last (the default): the index itself is cut off, so the file cannot be opened
    cut = _truncate(make_clip(tmp_path / "slow.mp4", n=50, width=128, height=96))
    with pytest.raises(InvalidVideoError, match=r"^cut_slow\.mp4 is not a video file that can be "
                                                r"read: it is damaged, truncated"):
        probe(cut, **LIMITS)


def test_read_frames_of_a_truncated_mp4_yields_what_decodes_then_raises(tmp_path):
    cut = _truncate(make_clip(tmp_path / "fast.mp4", n=50, width=128, height=96, faststart=True))
    frames = []
    with pytest.raises(InvalidVideoError, match=r"^cut_fast\.mp4 is truncated or damaged: only "
                                                r"\d+ of its 50 frames could be decoded$"):
        for frame in read_frames(cut):
            frames.append(frame)
    assert 20 < len(frames) < 50
    for i, frame in enumerate(frames[:20]):  # near the cut, frames whose data is gone are skipped
        assert abs(float(frame.mean()) - level(i)) < 3
    # batches: the frames decoded before the error still come out
    batches = []
    with pytest.raises(InvalidVideoError, match="truncated"):
        for batch in read_batches(cut, 8):
            batches.append(batch)
    assert sum(len(b) for b in batches) == len(frames)


def test_truncated_matroska_ends_with_a_warning(tmp_path, caplog):
    # Matroska has no per-frame index: truncation is only suspected from the declared duration
    # 5 seconds (10 fps), cut to about 3: over the 1-second allowance for audio running longer
    cut = _truncate(make_clip(tmp_path / "clip.mkv", n=50, fps=10, width=128, height=96))
    with caplog.at_level(logging.WARNING, logger="resshift.media.video"):
        frames = list(read_frames(cut))
    assert 10 < len(frames) < 50
    assert any("may be truncated" in r.getMessage() and "cut_clip.mkv" in r.getMessage()
               for r in caplog.records)
