"""``python -m resshift sr clip.mp4 -o clip_x4.mp4`` (and ``face``): real clips, tiny random models
as a user's custom model, bad files reported in one line (exit status 1), never a traceback."""
import json
from fractions import Fraction

import numpy as np
import pytest

from resshift.cli import main
from resshift.media import VideoWriter, probe, read_frames
from tests.helpers import run_cli, write_tiny_model
from tests.media_clips import make_audio_only, make_clip

ANY = {"max_seconds": 60, "max_pixels": 10 ** 8, "min_side": 1}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    return {task: write_tiny_model(folder, task) for task in ("sr", "face")}


def _model_args(tiny, task: str) -> list[str]:
    spec, wdir = tiny[task]
    return ["--model-spec", str(spec), "--weights-dir", str(wdir), "--offline", "--device", "cpu", "--steps", "1"]


def test_sr_clip_through_python_m_resshift(tiny, tmp_path):
    src = make_clip(tmp_path / "clip.mp4", n=4, width=32, height=24, rotation=270)
    out = tmp_path / "clip_x4.mp4"
    res = run_cli("sr", str(src), "-o", str(out), *_model_args(tiny, "sr"), "--batch-size", "3", "--seed", "3")
    assert res.returncode == 0, res.stderr
    info = probe(out, **ANY)
    assert (info.width, info.height, info.rotation, info.has_audio) == (128, 96, 270, True)
    assert len(list(read_frames(out))) == 4
    facts = json.loads(res.stdout)  # stdout: the result as one JSON line
    assert (facts["input"], facts["output"], facts["frames"]) == (str(src), str(out), 4)
    assert facts["noise"] == "steady" and facts["seed"] == 3
    assert "4/4" in res.stderr  # the progress bar counts frames


def test_face_aligned_clip_and_an_output_folder(tiny, tmp_path, capsys):
    rng = np.random.default_rng(0)
    src = tmp_path / "face.mp4"
    with VideoWriter(src, fps=Fraction(24), crf=0) as writer:
        writer.write(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    (tmp_path / "out").mkdir()
    code = main(["face", str(src), "-o", str(tmp_path / "out"), "--aligned", "--noise", "fresh", "-q",
                 *_model_args(tiny, "face")])
    assert code == 0
    assert probe(tmp_path / "out" / "face.mp4", **ANY).width == 64
    facts = json.loads(capsys.readouterr().out)
    assert facts["noise"] == "fresh" and facts["output"] == str(tmp_path / "out" / "face.mp4")


def test_a_video_with_ray_is_a_usage_error(tmp_path, capsys):
    """The Ray runner restores images: a video given with --ray is refused before anything loads
    (it used to reach the image reader and fail as an undecodable image)."""
    src = make_clip(tmp_path / "clip.mp4", n=2, width=16, height=16)
    with pytest.raises(SystemExit) as exit_:
        main(["sr", str(src), "-o", str(tmp_path / "clip_x4.mp4"), "--ray", "--model", "lite-sr"])
    assert exit_.value.code == 2
    assert "--ray restores images; restore the video clip.mp4 without --ray" in capsys.readouterr().err


def _cut(path, cut):
    """The first 60 % of a file: a download or copy that stopped midway."""
    data = path.read_bytes()
    cut.write_bytes(data[:len(data) * 6 // 10])
    return cut


@pytest.mark.parametrize("make, words", [
    (lambda d: make_audio_only(d / "song.mp4"), "skipped song.mp4: song.mp4 has no video stream: it holds only audio"),
    (lambda d: make_audio_only(d / "song.m4a"), "skipped song.m4a: song.m4a has no video stream: it holds only audio"),
    (lambda d: make_clip(d / "dot.mkv", n=2, width=1, height=1, audio=None, video_codec="ffv1", pix_fmt="yuv444p"),
     "skipped dot.mkv: the frames of dot.mkv are 1x1 pixels; each side must be at least 16 pixels"),
    (lambda d: make_clip(d / "long.mp4", n=25, width=16, height=16, fps=Fraction(1, 600), audio=None),
     "skipped long.mp4: long.mp4 lasts 4.2 hours; the limit is 10.0 minutes. Trim it and try again."),
    (lambda d: _cut(make_clip(d / "whole.mp4", n=40, width=64, height=48, faststart=True), d / "cut.mp4"),
     "skipped cut.mp4: cut.mp4 is truncated: its index points to data up to byte"),
    (lambda d: make_clip(d / "wide.mp4", n=2, width=96, height=64, audio=None),
     "skipped wide.mp4: the frames of wide.mp4 are 96x64 = 6,144 pixels; the limit is 4,096 pixels per frame"),
])
def test_bad_videos_are_reported_and_the_run_fails(tiny, tmp_path, capsys, make, words):
    src = make(tmp_path)
    out = tmp_path / "out.mp4"
    code = main(["sr", str(src), "-o", str(out), "-q", "--max-frame-pixels", "64x64", *_model_args(tiny, "sr")])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == "" and captured.err.startswith(words), captured.err  # a sentence, on stderr
    assert "Traceback" not in captured.err and not out.exists()


def test_a_long_video_under_a_raised_limit_runs(tiny, tmp_path, capsys):
    src = make_clip(tmp_path / "slow.mp4", n=2, width=16, height=16, fps=Fraction(1, 30), audio=None)  # 60 s
    code = main(["sr", str(src), "-o", str(tmp_path / "o.mp4"), "-q", "--max-video-seconds", "30",
                 *_model_args(tiny, "sr")])
    assert code == 1 and "lasts 1.0 minutes; the limit is 30.0 seconds" in capsys.readouterr().err
    assert main(["sr", str(src), "-o", str(tmp_path / "o.mp4"), "-q", "--max-video-seconds", "61",
                 *_model_args(tiny, "sr")]) == 0


@pytest.mark.parametrize("extra, message", [
    (["--noise", "calm"], "argument --noise: invalid choice: 'calm'"),
    (["--batch-size", "0"], "the batch size must be from 1 to 64 frames; got 0"),
    (["--crf", "99"], "crf must be from 0 (lossless) to 51; got 99"),
    (["--max-video-seconds", "0"], "--max-video-seconds: must be positive"),
    (["--max-frame-pixels", "big"], "expected WIDTHxHEIGHT or a pixel count"),
])
def test_video_usage_errors_exit_2(tmp_path, capsys, extra, message):
    src = make_clip(tmp_path / "clip.mp4", n=2, width=16, height=16, audio=None)
    with pytest.raises(SystemExit) as exit_:
        main(["sr", str(src), "-o", str(tmp_path / "o.mp4"), *extra])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err, err


def test_a_video_is_written_as_mp4_only(tiny, tmp_path, capsys, monkeypatch):
    """A usage error, found before the model loads."""
    def no_loading(*args, **kwargs):
        raise AssertionError("a model was loaded before the usage error")

    monkeypatch.setattr("resshift.manager.ModelManager.get", no_loading)
    src = make_clip(tmp_path / "clip.mp4", n=2, width=16, height=16, audio=None)
    with pytest.raises(SystemExit) as exit_:
        main(["sr", str(src), "-o", str(tmp_path / "clip.png"), *_model_args(tiny, "sr")])
    assert exit_.value.code == 2 and "error: a video is written as MP4: name the output clip.mp4, not clip.png" in \
        capsys.readouterr().err
    assert not (tmp_path / "clip.png").exists()
