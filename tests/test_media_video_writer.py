"""resshift.media.VideoWriter: H.264 MP4 out, keeping frame count, frame rate, size, audio and
rotation; atomic on failure."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from resshift.media import VideoWriter, probe, read_frames

from tests.media_clips import audio_seconds, level, make_clip

LIMITS = dict(max_seconds=600, max_pixels=4096 * 2160, min_side=1)


def _copy(src, dst, **kwargs):
    info = probe(src, **LIMITS)
    with VideoWriter(dst, fps=info.fps, rotation=info.rotation,
                     sample_aspect_ratio=info.sample_aspect_ratio, audio_from=src, **kwargs) as writer:
        for frame in read_frames(src):
            writer.write(frame)
    return info, writer


def test_round_trip_keeps_frames_rate_size_audio_and_rotation(tmp_path):
    src = make_clip(tmp_path / "in.mp4", n=20, width=64, height=48, fps=25, rotation=90)
    dst = tmp_path / "out.mp4"
    info, writer = _copy(src, dst)
    assert writer.frames_written == 20 and writer.audio_copied is True
    out = probe(dst, **LIMITS)
    assert (out.width, out.height, out.fps, out.frame_count) == (64, 48, Fraction(25), 20)
    assert out.rotation == 90
    assert out.video_codec == "h264" and out.audio_codec == "aac"
    frame_seconds = 1 / 25
    assert abs(audio_seconds(dst) - audio_seconds(src)) < frame_seconds
    assert abs(out.duration - info.duration) < frame_seconds
    frames = list(read_frames(dst))
    assert len(frames) == 20
    for i, frame in enumerate(frames):
        assert abs(float(frame.mean()) - level(i)) < 3
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_non_square_pixels_are_kept(tmp_path):
    src = make_clip(tmp_path / "in.mp4", n=3, width=64, height=48, audio=None,
                    sample_aspect_ratio=Fraction(4, 3))
    info = probe(src, **LIMITS)
    assert info.sample_aspect_ratio == Fraction(4, 3) and info.display_size == (85, 48)
    _copy(src, tmp_path / "out.mp4")
    assert probe(tmp_path / "out.mp4", **LIMITS).sample_aspect_ratio == Fraction(4, 3)


@pytest.mark.parametrize("rotation", [180, 270])
def test_other_rotations_are_kept(tmp_path, rotation):
    src = make_clip(tmp_path / "in.mp4", n=3, rotation=rotation, audio=None)
    _copy(src, tmp_path / "out.mp4")
    assert probe(tmp_path / "out.mp4", **LIMITS).rotation == rotation


def test_colours_survive_the_yuv_round_trip(tmp_path):
    # written with the BT.709 matrix and tagged BT.709, so the reader converts back with the same
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (240, 200, 40)]
    dst = tmp_path / "colours.mp4"
    with VideoWriter(dst, fps=25, crf=0) as writer:
        for colour in colours:
            writer.write(np.full((32, 32, 3), colour, np.uint8))
    for colour, frame in zip(colours, read_frames(dst)):
        assert np.abs(frame[16, 16].astype(int) - colour).max() <= 3, (colour, frame[16, 16])


def test_ntsc_rate_is_kept_exactly(tmp_path):
    src = make_clip(tmp_path / "in.mkv", n=8, fps=Fraction(30000, 1001), audio=None)
    dst = tmp_path / "out.mp4"
    _, writer = _copy(src, dst)
    assert writer.audio_copied is None  # no audio to carry
    out = probe(dst, **LIMITS)
    assert out.fps == Fraction(30000, 1001) and out.frame_count == 8 and not out.has_audio


def test_pcm_audio_is_reencoded_to_aac(tmp_path):
    # MP4 does not take PCM as it is: decoded and encoded to AAC, same length
    src = make_clip(tmp_path / "in.mkv", n=25, fps=25, audio="pcm_s16le", channels=2)
    assert probe(src, **LIMITS).audio_codec == "pcm_s16le"
    dst = tmp_path / "out.mp4"
    _, writer = _copy(src, dst)
    assert writer.audio_copied is False
    assert probe(dst, **LIMITS).audio_codec == "aac"
    assert abs(audio_seconds(dst) - audio_seconds(src)) < 1 / 25


def test_odd_sizes_are_padded_by_repeating_the_edge(tmp_path):
    dst = tmp_path / "odd.mp4"
    frame = np.zeros((17, 33, 3), np.uint8)
    frame[:, -1] = 200  # the last column bright: the padding column must repeat it
    frame[-1, :] = 100
    frame[-1, -1] = 150
    with VideoWriter(dst, fps=10, crf=0) as writer:
        for _ in range(3):
            writer.write(frame)
    out = probe(dst, **LIMITS)
    assert (out.width, out.height) == (34, 18)
    decoded = next(read_frames(dst)).astype(int)
    # H.264 4:2:0 blurs colour edges, not these greys much: compare away from the corner
    assert np.abs(decoded[2:14, 33] - 200).max() <= 6
    assert np.abs(decoded[17, 2:28] - 100).max() <= 6


def test_a_failure_leaves_no_file_and_keeps_the_old_target(tmp_path):
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"previous result")
    frame = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(RuntimeError, match="restoration failed"):
        with VideoWriter(dst, fps=25) as writer:
            writer.write(frame)
            writer.write(frame)
            raise RuntimeError("restoration failed")
    assert dst.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4"]


def test_bad_frames_and_empty_videos_are_refused_without_a_file(tmp_path):
    dst = tmp_path / "out.mp4"
    with pytest.raises(ValueError, match=r"frame 1 is 18x16; the video's frames are 16x16"):
        with VideoWriter(dst, fps=25) as writer:
            writer.write(np.zeros((16, 16, 3), np.uint8))
            writer.write(np.zeros((16, 18, 3), np.uint8))
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8 RGB array"):
        with VideoWriter(dst, fps=25) as writer:
            writer.write(np.zeros((16, 16, 3), np.float32))
    with pytest.raises(ValueError, match="no frames were written to out.mp4"):
        with VideoWriter(dst, fps=25):
            pass
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="fps must be positive"):
        VideoWriter(dst, fps=0)
