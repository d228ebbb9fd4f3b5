"""Writing restored frames as an H.264 MP4 that keeps the source's frame rate, audio and rotation.

Video: libx264, yuv420p, BT.709 (tagged, and used for the RGB->YUV conversion), constant frame rate
(the source's average rate: a variable-rate source comes out evenly timed, same frame count and
about the same duration), ``+faststart`` so a browser starts playing before the whole file loads.
yuv420p needs even sides: a frame with an odd width or height is padded by repeating its last
column or row, so the output is one pixel wider or taller and nothing of the picture is lost.

Audio: the source's first audio stream, copied packet for packet (no re-encoding, no quality loss)
when it is one that MP4 takes and players play (AAC, MP3, Opus, FLAC, ALAC, AC-3, E-AC-3), else
decoded and re-encoded to AAC (PCM, Vorbis, MP2, ...). It keeps its timing relative to the first
video frame, and is interleaved with the video as the frames arrive.

Rotation and pixel shape: written as the stream's display matrix and sample aspect ratio, the way
the source stored them.

Atomic: everything goes to a temporary file beside the target, renamed onto it by :meth:`close`;
an exception inside the ``with`` block, or a failing close, deletes it.
"""
from __future__ import annotations

import logging
import os
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import av.error
import numpy as np

from .atomic import AtomicTarget
from .video import open_input

log = logging.getLogger(__name__)

_AAC_BIT_RATE = 192_000  # bits per second, when audio must be re-encoded
# audio codecs that FFmpeg's MP4 muxer takes as they are and common players play. Others (PCM,
# Vorbis, MP2, DTS, ...) are refused by the muxer, some only when it writes the trailer (PCM's
# channel layout), or play in few players: they are re-encoded.
_MP4_COPY_CODECS = frozenset({"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"})
# FFmpeg's AAC encoder: the sample rates it takes, and a layout it takes for each channel count
# (more than 8 channels are mixed down to stereo)
_AAC_RATES = frozenset({96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000,
                        11025, 8000, 7350})
_AAC_FALLBACK_RATE = 48000
_AAC_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "4.0", 5: "5.0", 6: "5.1", 7: "6.1", 8: "7.1"}


class _AudioSource:
    """The source's first audio stream, fed into the output either as copied packets or as
    re-encoded AAC. Times are shifted so that the source's first video frame is t = 0."""

    def __init__(self, path: Path):
        self._container = open_input(path)
        audio = self._container.streams.audio
        self.stream = audio[0] if audio else None
        ctx = self.stream.codec_context if self.stream is not None else None
        self.codec_name = ctx.codec.canonical_name if ctx is not None else "unknown"
        video = [s for s in self._container.streams.video
                 if not s.disposition & av.stream.Disposition.attached_pic]
        start = 0.0  # the source's first video frame, which becomes the output's t = 0
        if video and video[0].start_time is not None and video[0].time_base is not None:
            start = float(video[0].start_time * video[0].time_base)
        self._start = start
        self._out: av.stream.Stream | None = None
        self._copy = False
        self._pending: Iterator | None = None
        self._next = None  # the next packet (copy) or frame (re-encode), already shifted

    def add_to(self, output: av.container.OutputContainer, copy: bool) -> None:
        """Add the output audio stream: a copy of the source's, or an AAC encoder."""
        assert self.stream is not None
        self._copy = copy
        if copy:
            self._out = output.add_stream_from_template(self.stream)
        else:
            ctx = self.stream.codec_context
            rate = ctx.sample_rate if ctx.sample_rate in _AAC_RATES else _AAC_FALLBACK_RATE
            # by channel count: a source layout without named channels ("2 channels") is refused
            layout = _AAC_LAYOUTS.get(ctx.channels, "stereo")
            out = output.add_stream("aac", rate=rate, layout=layout)
            out.bit_rate = _AAC_BIT_RATE
            self._out = out

    def _items(self) -> Iterator:
        assert self.stream is not None
        tb = self.stream.time_base
        shift = round(self._start / tb)
        for packet in self._container.demux(self.stream):
            if packet.dts is None:  # the demuxer's final empty packet
                if not self._copy:
                    yield from self._decoded(packet)
                continue
            if self._copy:
                packet.pts = None if packet.pts is None else packet.pts - shift
                packet.dts -= shift
                packet.stream = self._out
                yield packet
            else:
                yield from self._decoded(packet)

    def _decoded(self, packet) -> Iterator:
        for frame in packet.decode():
            if frame.pts is not None:
                frame.pts -= round(self._start / frame.time_base)
            yield frame

    @staticmethod
    def _time(item) -> float:
        if item.pts is None or item.time_base is None:
            return 0.0
        return float(item.pts * item.time_base)

    def feed(self, output: av.container.OutputContainer, until: float) -> None:
        """Mux the audio up to ``until`` seconds (all of it for ``float('inf')``)."""
        if self._out is None:
            return
        if self._pending is None:
            self._pending = self._items()
        while True:
            if self._next is None:
                self._next = next(self._pending, None)
                if self._next is None:
                    break
            if self._time(self._next) > until:
                return
            item, self._next = self._next, None
            if self._copy:
                output.mux(item)
            else:
                output.mux(self._out.encode(item))
        if not self._copy:
            output.mux(self._out.encode(None))
        self._out = None  # all muxed (and the encoder flushed)

    def close(self) -> None:
        self._container.close()


class VideoWriter:
    """Write (H, W, 3) uint8 RGB frames to an MP4 at ``target``, atomically.

    ``fps``: frames per second (use the source's ``VideoInfo.fps``). ``rotation``: degrees
    counter-clockwise a player turns the frames by (the source's ``VideoInfo.rotation``).
    ``sample_aspect_ratio``: the shown width/height of one pixel (the source's; scaling both sides
    by the same factor keeps it).
    ``audio_from``: a video whose first audio stream is carried over (None: no audio).
    ``crf``: x264 quality, 0 (lossless) to 51; 18 is visually lossless for most content.
    ``preset``: x264 speed/size trade-off (``"ultrafast"`` ... ``"veryslow"``).

    Every frame must have the size of the first. Use as a context manager::

        with VideoWriter(out, fps=info.fps, rotation=info.rotation, audio_from=src) as writer:
            for frame in frames:
                writer.write(frame)
    """

    def __init__(self, target: str | os.PathLike, *, fps: Fraction | int | float, rotation: int = 0,
                 sample_aspect_ratio: Fraction | int = 1,
                 audio_from: str | os.PathLike | None = None, crf: int = 18,
                 preset: str = "medium"):
        fps = Fraction(fps).limit_denominator(1_000_000)
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if not 0 <= crf <= 51:
            raise ValueError(f"crf must be in 0..51, got {crf}")
        self.target = Path(target)
        self.fps = fps
        self.rotation = int(rotation) % 360
        self.sample_aspect_ratio = Fraction(sample_aspect_ratio)
        if self.sample_aspect_ratio <= 0:
            raise ValueError(f"sample_aspect_ratio must be positive, got {sample_aspect_ratio}")
        self._audio_from = None if audio_from is None else Path(audio_from)
        self._crf = crf
        self._preset = preset
        self._tmp: AtomicTarget | None = None  # made with the first frame
        self._output: av.container.OutputContainer | None = None
        self._video: av.video.stream.VideoStream | None = None
        self._audio: _AudioSource | None = None
        self._size: tuple[int, int] | None = None  # (width, height) of the frames given
        self.frames_written = 0
        self.audio_copied: bool | None = None  # after the first frame: copied (True), re-encoded

    # -- setup, on the first frame (its size fixes the stream's) --------------------------------
    def _open(self, width: int, height: int, audio: _AudioSource | None, copy: bool) -> None:
        output = av.open(str(self._tmp.path), "w", format="mp4",
                         options={"movflags": "+faststart"})
        try:
            video = output.add_stream("libx264", rate=self.fps,
                                      options={"crf": str(self._crf), "preset": self._preset})
            video.width, video.height = width + width % 2, height + height % 2
            video.pix_fmt = "yuv420p"
            ctx = video.codec_context
            ctx.colorspace, ctx.color_primaries, ctx.color_trc = 1, 1, 1  # BT.709 (AVCOL_*_BT709)
            ctx.color_range = 1  # limited ("TV") range, what players expect of H.264
            ctx.sample_aspect_ratio = self.sample_aspect_ratio
            if self.rotation:
                video.set_display_rotation(self.rotation)
            if audio is not None:
                audio.add_to(output, copy)
        except BaseException:
            output.close()
            raise
        self._output, self._video = output, video

    def _start(self, width: int, height: int) -> None:
        self._tmp = AtomicTarget(self.target)
        audio = None
        if self._audio_from is not None:
            audio = _AudioSource(self._audio_from)
            if audio.stream is None:
                audio.close()
                audio = None
        self._audio = audio
        copy = audio is not None and audio.codec_name in _MP4_COPY_CODECS
        if audio is not None:
            self.audio_copied = copy
            if not copy:
                log.info("%s audio is re-encoded to AAC for MP4", audio.codec_name)
        self._open(width, height, audio, copy)

    # -- writing --------------------------------------------------------------------------------
    def write(self, frame: np.ndarray) -> None:
        """Encode one (H, W, 3) uint8 RGB frame (the next one, at ``frames_written / fps`` s)."""
        if not (isinstance(frame, np.ndarray) and frame.ndim == 3 and frame.shape[2] == 3
                and frame.dtype == np.uint8):
            raise ValueError("a frame must be an (H, W, 3) uint8 RGB array, got "
                             f"{getattr(frame, 'shape', type(frame))} {getattr(frame, 'dtype', '')}")
        height, width = frame.shape[:2]
        if self._size is None:
            if min(width, height) < 1:
                raise ValueError(f"a frame must be at least 1x1 pixels, got {width}x{height}")
            self._start(width, height)
            self._size = (width, height)
        elif (width, height) != self._size:
            raise ValueError(f"frame {self.frames_written} is {width}x{height}; the video's "
                             f"frames are {self._size[0]}x{self._size[1]}")
        if width % 2 or height % 2:  # yuv420p: repeat the last column/row up to even sides
            frame = np.pad(frame, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        picture = picture.reformat(format="yuv420p", dst_colorspace="itu709",
                                   dst_color_range="MPEG")
        picture.pts = self.frames_written
        picture.time_base = 1 / self.fps  # the encoder's time base (the muxer picks the stream's)
        self._output.mux(self._video.encode(picture))
        self.frames_written += 1
        if self._audio is not None:
            self._audio.feed(self._output, float(self.frames_written / self.fps))

    def close(self) -> None:
        """Flush the encoder, mux the rest of the audio, finish the file and rename it onto the
        target. Raises ValueError if no frame was written (then no file is left)."""
        try:
            if self._output is None:
                raise ValueError(f"no frames were written to {self.target.name}")
            self._output.mux(self._video.encode(None))
            if self._audio is not None:
                self._audio.feed(self._output, float("inf"))
            self._output.close()
            self._output = None
            self._tmp.commit()
        except BaseException:
            self.abort()
            raise
        finally:
            if self._audio is not None:
                self._audio.close()
                self._audio = None

    def abort(self) -> None:
        """Stop and delete the partial file; the target is left as it was."""
        try:
            if self._output is not None:
                try:
                    self._output.close()
                except av.error.FFmpegError as exc:  # the file is discarded anyway
                    log.warning("closing the partial video %s failed: %s", self._tmp.path, exc)
                self._output = None
            if self._audio is not None:
                self._audio.close()
                self._audio = None
        finally:
            if self._tmp is not None:
                self._tmp.discard()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
