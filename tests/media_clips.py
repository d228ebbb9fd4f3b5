"""Tiny video files made with PyAV for the media tests: frames from numpy, a sine-wave audio track,
a rotation. Each frame i is a flat grey of level ``level(i)``, so a decoded frame tells its index."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

SAMPLE_RATE = 48_000


def level(i: int) -> int:
    """The grey level of frame i (distinct for 0..24, far from 0 and 255)."""
    return 16 + (i * 9) % 224


def grey_frames(n: int, width: int, height: int) -> list[np.ndarray]:
    return [np.full((height, width, 3), level(i), np.uint8) for i in range(n)]


def sine(seconds: float, channels: int = 1, rate: int = SAMPLE_RATE) -> np.ndarray:
    """(channels, samples) float32 sine at 440 Hz, amplitude 0.3."""
    t = np.arange(round(seconds * rate)) / rate
    return np.repeat((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None], channels, 0)


def _mux_audio(container, stream, samples: np.ndarray, rate: int, planar_format: str) -> None:
    channels, total = samples.shape
    layout = "mono" if channels == 1 else "stereo"
    step = 1024
    for start in range(0, total, step):
        chunk = samples[:, start:start + step]
        if planar_format == "s16":  # packed: (1, samples * channels), interleaved
            chunk = (chunk.T * 32767).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format=planar_format,
                                           layout=layout)
        frame.sample_rate = rate
        frame.pts = start
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def make_clip(path: Path, *, n: int = 10, width: int = 64, height: int = 48,
              fps: Fraction | int = 25, rotation: int = 0, audio: str | None = "aac",
              channels: int = 1, container_format: str | None = None, faststart: bool = False,
              video_codec: str = "libx264", pix_fmt: str = "yuv420p",
              sample_aspect_ratio: Fraction | None = None) -> Path:
    """A clip of n grey frames (see :func:`level`) and, unless ``audio`` is None, a sine track of
    the same duration encoded with the codec ``audio`` (``"aac"``, ``"pcm_s16le"``, ...)."""
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), "w", format=container_format, options=options) as c:
        v = c.add_stream(video_codec, rate=fps)
        v.width, v.height, v.pix_fmt = width, height, pix_fmt
        if rotation:
            v.set_display_rotation(rotation)
        if sample_aspect_ratio is not None:
            v.codec_context.sample_aspect_ratio = sample_aspect_ratio
        a = None
        if audio is not None:
            a = c.add_stream(audio, rate=SAMPLE_RATE, layout="mono" if channels == 1 else "stereo")
        for i, img in enumerate(grey_frames(n, width, height)):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            c.mux(v.encode(frame))
        c.mux(v.encode(None))
        if a is not None:
            fmt = "s16" if audio.startswith("pcm_s16") else "fltp"
            _mux_audio(c, a, sine(float(n / Fraction(fps)), channels), SAMPLE_RATE, fmt)
    return path


def make_audio_only(path: Path, seconds: float = 1.0) -> Path:
    with av.open(str(path), "w", format="mp4") as c:
        a = c.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        _mux_audio(c, a, sine(seconds), SAMPLE_RATE, "fltp")
    return path


def audio_seconds(path: Path) -> float:
    """Seconds of audio the file's first audio stream decodes to (every sample counted)."""
    with av.open(str(path)) as c:
        samples = 0
        rate = None
        for frame in c.decode(audio=0):
            samples += frame.samples
            rate = frame.sample_rate
        assert rate is not None, f"{path.name} has no audio"
        return samples / rate
