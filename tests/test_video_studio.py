"""The studio's video section: its handlers on real clips with tiny random models, its limits from the
environment, refusals as sentences, and, through a served page, the API endpoint, cancelling and the
server serving on after a bad file."""
from fractions import Fraction
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.utils import Status

from resshift.manager import ModelManager
from resshift.media import VideoWriter, probe, read_frames
from studio.handlers import Studio
from studio.limits import Limits
from studio.video import NO_VIDEO, VideoRunner, runner_for, video_limits
from tests.helpers import runs_held_until_cancelled, serve_studio, tiny_manager, tiny_model
from tests.media_clips import make_audio_only, make_clip

ANY = {"max_seconds": 60, "max_pixels": 10 ** 8, "min_side": 1}


@pytest.fixture(scope="module")
def manager():
    m = ModelManager([], device="cpu", allow_download=False)
    for task in ("sr", "face"):
        m.put(tiny_model(task))
    return m


@pytest.fixture
def runner(manager, tmp_path):
    return VideoRunner(Studio(manager, Limits.defaults("cpu"), files_root=tmp_path), env={})


def _message(err: pytest.ExceptionInfo) -> str:
    return err.value.message


def test_limits_come_from_the_environment():
    cpu = video_limits(4096 * 4096, "cpu", {})
    assert (cpu.max_seconds, cpu.max_pixels, cpu.max_output_pixels) == (10.0, 256 * 256, 4096 * 4096)
    gpu = video_limits(8192 * 8192, "cuda", {})
    assert (gpu.max_seconds, gpu.max_pixels) == (30.0, 640 * 360)
    env = {"RESSHIFT_MAX_VIDEO_SECONDS": "2.5", "RESSHIFT_MAX_VIDEO_PIXELS": "64x48"}
    mine = video_limits(100, "cpu", env)
    assert (mine.max_seconds, mine.max_pixels) == (2.5, 3072)
    with pytest.raises(ValueError, match=r"RESSHIFT_MAX_VIDEO_SECONDS='soon' is not valid"):
        video_limits(100, "cpu", {"RESSHIFT_MAX_VIDEO_SECONDS": "soon"})
    with pytest.raises(ValueError, match=r"RESSHIFT_MAX_VIDEO_PIXELS='-5' is not valid"):
        video_limits(100, "cpu", {"RESSHIFT_MAX_VIDEO_PIXELS": "-5"})


def test_the_page_states_the_limits(manager, tmp_path):
    studio = Studio(manager, Limits.defaults("cpu"), files_root=tmp_path)
    text = VideoRunner(studio, env={"RESSHIFT_MAX_VIDEO_SECONDS": "8"}).limits_text()
    assert "Videos up to **8 seconds** with frames up to **256x256 (0.07 megapixels)**" in text
    assert "uploads up to 20 MB on this CPU server" in text
    assert runner_for(studio) is runner_for(studio)  # one runner (one GPU function) per studio


def test_sr_video_comes_back_as_a_playable_mp4_with_facts(runner, tmp_path):
    src = make_clip(tmp_path / "my clip.mp4", n=3, width=32, height=24, rotation=90)
    reports = []
    path, facts = runner.super_resolve(str(src), "tiny-sr", 1, 2.0, 7,
                                       progress=lambda f, desc: reports.append((f, desc)))
    info = probe(path, **ANY)
    assert (info.width, info.height, info.rotation, info.has_audio, info.video_codec) == (128, 96, 90, True, "h264")
    assert Path(path).is_relative_to(tmp_path) and Path(path).name == "my_clip_tiny-sr_1s_k2_seed7_x4_steady.mp4"
    assert facts["frames"] == 3 and facts["seed"] == 7 and facts["noise"] == "steady" and facts["audio"] == "copied"
    assert reports[-1] == (1.0, "frame 3 of 3") and any("step 1/1" in d for _, d in reports)


def test_face_video_whole_frames_and_fresh_noise(runner, tmp_path):
    rng = np.random.default_rng(0)
    src = tmp_path / "face.mp4"
    with VideoWriter(src, fps=Fraction(24), crf=0) as writer:
        writer.write(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    path, facts = runner.restore_face(str(src), "aligned", "tiny-face", 1, 2.0, 3, noise="fresh")
    assert probe(path, **ANY).width == 64 and facts["noise"] == "fresh" and facts["frames"] == 1
    with pytest.raises(gr.Error) as err:
        runner.restore_face(str(make_clip(tmp_path / "wide.mp4", n=1, width=64, height=32, audio=None)),
                            "aligned", "tiny-face", 1, 2.0, 3)
    assert _message(err).startswith("The frames of wide.mp4 are 64x32; a video of aligned faces has square frames")
    # whole frames: a frame without faces comes back as its background, at the scale asked for
    path, facts = runner.restore_face(str(src), "photo", "tiny-face", 1, 2.0, 3, scale=2)
    assert probe(path, **ANY).width == 128 and facts["faces"] == 0 and facts["scale"] == 2


def _cut(path: Path) -> Path:
    data = path.read_bytes()
    cut = path.with_name("cut_" + path.name)
    cut.write_bytes(data[:len(data) * 6 // 10])
    return cut


@pytest.mark.parametrize("make, words", [
    (lambda d: None, NO_VIDEO + "."),
    (lambda d: str(make_audio_only(d / "song.m4a")), "song.m4a has no video stream: it holds only audio."),
    (lambda d: str(make_clip(d / "dot.mkv", n=2, width=1, height=1, audio=None, video_codec="ffv1",
                             pix_fmt="yuv444p")),
     "The frames of dot.mkv are 1x1 pixels; each side must be at least 16 pixels."),
    (lambda d: str(make_clip(d / "long.mp4", n=25, width=16, height=16, fps=Fraction(1, 600), audio=None)),
     "long.mp4 lasts 4.2 hours; the limit is 10.0 seconds. Trim it and try again."),
    (lambda d: str(_cut(make_clip(d / "fast.mp4", n=40, width=64, height=48, faststart=True))),
     "cut_fast.mp4 is truncated: its index points to data up to byte"),
    (lambda d: str(make_clip(d / "big.mp4", n=1, width=320, height=240, audio=None)),
     "The frames of big.mp4 are 320x240 = 76,800 pixels; the limit is 65,536 pixels per frame."),
])
def test_bad_videos_get_a_sentence_and_write_nothing(runner, tmp_path, make, words):
    source = make(tmp_path)
    with pytest.raises(gr.Error) as err:
        runner.super_resolve(source, "tiny-sr", 1, 2.0, 1)
    assert _message(err).startswith(words), _message(err)
    assert not list((tmp_path / "resshift").rglob("*.mp4"))  # no result, not even a partial one


def test_wrong_model_and_upload_limit(manager, tmp_path):
    src = str(make_clip(tmp_path / "clip.mp4", n=1, width=16, height=16, audio=None))
    runner = VideoRunner(Studio(manager, Limits.defaults("cpu"), files_root=tmp_path), env={})
    with pytest.raises(gr.Error) as err:
        runner.super_resolve(src, "tiny-face", 1, 2.0, 1)
    assert "The model tiny-face is a face restoration model; choose a super-resolution model" in _message(err)
    small = Limits.from_env("cpu", {"RESSHIFT_MAX_UPLOAD_MB": "0.001"})
    runner = VideoRunner(Studio(manager, small, files_root=tmp_path), env={})
    with pytest.raises(gr.Error) as err:
        runner.super_resolve(src, "tiny-sr", 1, 2.0, 1)
    assert "this server accepts uploads up to 0 MB" in _message(err)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    manager = tiny_manager("sr")
    files = tmp_path_factory.mktemp("files")
    with serve_studio(manager, files_root=files) as demo:
        yield Client(demo.local_url, verbose=False), manager.get("tiny-sr"), files


def _video_path(value) -> str:
    return value["video"] if isinstance(value, dict) else value


def test_the_api_refuses_a_bad_file_cancels_and_serves_on(served, tmp_path):
    client, model, files = served
    song = make_audio_only(tmp_path / "song.mp4")
    with pytest.raises(Exception, match="song.mp4 has no video stream: it holds only audio"):
        client.predict(handle_file(str(song)), "tiny-sr", 1, 2.0, 1, "auto", "none", "steady",
                       api_name="/super_resolve_video")
    # a run cancelled inside a sampling step stops there and writes nothing
    clip = make_clip(tmp_path / "clip.mp4", n=6, width=16, height=16)
    with runs_held_until_cancelled(model) as inside:
        job = client.submit(handle_file(str(clip)), "tiny-sr", 1, 2.0, 101, "auto", "none", "steady",
                            api_name="/super_resolve_video")
        assert inside.acquire(timeout=120), "the run never reached the model"
        job.cancel()
        while not job.done():
            job.status()
        assert job.status().code == Status.CANCELLED
    # the server serves the next request
    value, facts = client.predict(handle_file(str(clip)), "tiny-sr", 1, 2.0, 7, "auto", "none", "fresh",
                                  api_name="/super_resolve_video")
    assert facts["frames"] == 6 and facts["noise"] == "fresh" and facts["seed"] == 7
    assert len(list(read_frames(_video_path(value)))) == 6
    written = [p.name for p in files.rglob("*.mp4")]
    assert not any("seed101" in n for n in written) and any("seed7" in n for n in written), written
