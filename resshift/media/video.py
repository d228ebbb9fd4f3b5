"""Reading videos with PyAV (FFmpeg): a cheap probe that refuses bad files, and a frame iterator.

``probe`` reads only the container's headers and index, so a 4-hour video, 1x1 frames, a file with
no video stream or a codec this FFmpeg build cannot decode are refused before any frame is decoded.
Only when every check has passed does it decode the first frame, which proves the stream decodes
and carries the rotation: FFmpeg exposes the display matrix on decoded frames, not on the stream.

Frames come out as stored: a phone video filmed upright is stored landscape with a rotation of 90
or 270 degrees in its display matrix. The rotation is not applied to the pixels; the writer
(:mod:`resshift.media.video_writer`) writes it back as metadata, so the output plays the same way.

Damaged files (see :func:`read_frames`): frames that decode are yielded, and then a truncation
that the container's index proves (fewer frames decoded than indexed) raises
:class:`InvalidVideoError`; one that can only be guessed from the declared duration (formats
without a per-frame index, such as Matroska/WebM) logs a warning and the iteration ends normally.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import av.error
import numpy as np

from .errors import InvalidVideoError

log = logging.getLogger(__name__)

# FFmpeg demuxers that read single images (PNG, JPEG, ... as one-frame "videos")
_IMAGE_FORMAT_NAMES = ("image2", "image2pipe")
_IMAGE_FORMAT_SUFFIX = "_pipe"
# probe decodes packets until the first frame; a stream that yields none in this many is refused
_PROBE_MAX_PACKETS = 256
# read_frames: a stream ending this many seconds before the declared duration is probably truncated
_TRUNCATION_SLACK_SECONDS = 1.0


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learned from a video's headers and first frame.

    width, height: the stored frame size in pixels (before rotation).
    fps: the average frame rate in frames per second, exact (e.g. ``Fraction(30000, 1001)``).
    duration: seconds, from the container or stream metadata; None when the file does not state it
        (then :func:`read_frames`' ``max_seconds`` is the only length guard).
    frame_count: the number of frames: the container's own count when it has one (MP4/MOV), else
        ``round(duration * fps)``; None when neither is known. An estimate for progress bars.
    rotation: degrees counter-clockwise, in [0, 360), that a player turns the stored frames by
        (the stream's display matrix); 0 for most files, 90 or 270 for upright phone videos.
    sample_aspect_ratio: the width/height of one stored pixel as shown (1 for square pixels;
        e.g. 32/27 for anamorphic 720x480 DV); 1 when the file does not say.
    has_audio: whether the file has an audio stream (the first one is the one copied).
    video_codec, audio_codec: FFmpeg's codec names (``"h264"``, ``"aac"``; the format, not the
        decoder: ``"mp3"``, not ``"mp3float"``); audio_codec is None
        without audio, and ``"unknown"`` when this FFmpeg build has no decoder for it.
    container: FFmpeg's name for the file format (``"mov,mp4,m4a,3gp,3g2,mj2"``, ``"matroska,webm"``).
    """

    width: int
    height: int
    fps: Fraction
    duration: float | None
    frame_count: int | None
    rotation: int
    sample_aspect_ratio: Fraction
    has_audio: bool
    video_codec: str
    audio_codec: str | None
    container: str

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as a player shows the video: pixels made square, then rotated."""
        width = round(self.width * self.sample_aspect_ratio)
        if self.rotation % 180 == 90:
            return self.height, width
        return width, self.height


def _pixels(n: int) -> str:
    return f"{n / 1e6:.2f} megapixels" if n >= 1_000_000 else f"{n:,} pixels"


def _rate(fps: float | Fraction) -> str:
    """100000 -> '100,000'; 30000/1001 -> '29.97'."""
    return f"{float(fps):,.2f}".rstrip("0").rstrip(".")


def _seconds(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.1f} hours"
    if s >= 60:
        return f"{s / 60:.1f} minutes"
    return f"{s:.1f} seconds"


def open_input(path: str | os.PathLike) -> av.container.InputContainer:
    """Open ``path`` for reading, turning every way that fails into an InvalidVideoError."""
    path = Path(path)
    name = path.name
    try:
        if path.is_dir():
            raise InvalidVideoError(f"{name} is a folder, not a video file")
        if path.stat().st_size == 0:
            raise InvalidVideoError(f"{name} is empty (0 bytes)")
        return av.open(str(path), "r", metadata_errors="ignore")
    except InvalidVideoError:
        raise
    except FileNotFoundError as exc:  # av.error.FileNotFoundError derives from it too
        raise InvalidVideoError(f"no such file: {path}") from exc
    except PermissionError as exc:
        raise InvalidVideoError(f"{name} cannot be read (permission denied)") from exc
    except av.error.FFmpegError as exc:
        raise InvalidVideoError(
            f"{name} is not a video file that can be read: it is damaged, truncated, or not a "
            f"video format FFmpeg knows ({exc.strerror})") from exc


def _video_stream(container: av.container.InputContainer, name: str) -> av.video.stream.VideoStream:
    """The first real video stream; cover art (an attached picture in an audio file) is not one."""
    streams = [s for s in container.streams.video
               if not s.disposition & av.stream.Disposition.attached_pic]
    if streams:
        return streams[0]
    if container.streams.audio:
        raise InvalidVideoError(f"{name} has no video stream: it holds only audio")
    raise InvalidVideoError(f"{name} has no video stream")


def _is_image_format(container: av.container.InputContainer) -> bool:
    names = container.format.name.split(",")
    return any(n in _IMAGE_FORMAT_NAMES or n.endswith(_IMAGE_FORMAT_SUFFIX) for n in names)


def _frame_rate(stream: av.video.stream.VideoStream) -> Fraction | None:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0:
            return Fraction(rate)
    return None


def _duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
              fps: Fraction) -> float | None:
    """The longest duration the file states (container, video stream, or frame count / fps), in
    seconds: the limit is checked against the worst case the metadata allows."""
    known = []
    if container.duration is not None and container.duration > 0:
        known.append(container.duration / av.time_base)
    if stream.duration is not None and stream.duration > 0 and stream.time_base is not None:
        known.append(float(stream.duration * stream.time_base))
    if stream.frames > 0:
        known.append(float(stream.frames / fps))
    return max(known) if known else None


def _indexed_frames(stream: av.video.stream.VideoStream) -> int | None:
    """How many frames the container's index lists for decoding (edit-list discards excluded), when
    it lists every frame (MP4/MOV); None for formats that index only some (Matroska's cues)."""
    entries = stream.index_entries
    if stream.frames <= 0 or len(entries) != stream.frames:
        return None
    return sum(1 for e in entries if not e.is_discard)


def _index_end(stream: av.stream.Stream) -> int:
    """The byte offset just past the last sample the stream's index points to (0 without one)."""
    return max((e.pos + e.size for e in stream.index_entries), default=0)


def _first_frame(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                 name: str) -> av.VideoFrame:
    try:
        for i, packet in enumerate(container.demux(stream)):
            if i >= _PROBE_MAX_PACKETS:
                break
            frames = packet.decode()  # the final, empty packet flushes the decoder
            if frames:
                return frames[0]
    except av.error.FFmpegError as exc:
        raise InvalidVideoError(
            f"the video stream of {name} cannot be decoded: it is damaged ({exc.strerror})") from exc
    raise InvalidVideoError(f"the video stream of {name} contains no frame that can be decoded")


def probe(path: str | os.PathLike, *, max_seconds: float, max_pixels: int,
          min_side: int, max_fps: float | None = None) -> VideoInfo:
    """Read a video's headers, refuse it if it cannot or may not be processed, and describe it.

    Refused with :class:`InvalidVideoError`, before any frame is decoded: a file that is missing,
    empty, not a media file FFmpeg reads, a still image, without a video stream (audio only), with
    a video codec this FFmpeg build has no decoder for, with frames of more than ``max_pixels``
    pixels or a side under ``min_side`` pixels, with no known frame rate or one over ``max_fps``,
    whose stated duration is over ``max_seconds``, that states more frames than ``max_seconds`` at
    ``max_fps`` hold, or whose index points past the end of the file (a truncated MP4). Then the
    first frame is decoded (the rotation lives there); a stream that does not decode is refused.
    A file that does not state its duration passes; :func:`read_frames` stops it at the limit.
    """
    path = Path(path)
    name = path.name
    with open_input(path) as container:
        if _is_image_format(container):
            raise InvalidVideoError(f"{name} is a still image, not a video")
        stream = _video_stream(container, name)
        if stream.codec_context is None:
            raise InvalidVideoError(
                f"the video stream of {name} uses a codec this server cannot decode")
        width, height = stream.codec_context.width, stream.codec_context.height
        if min(width, height) < min_side:
            raise InvalidVideoError(
                f"the frames of {name} are {width}x{height} pixels; each side must be at least "
                f"{min_side} pixels")
        if width * height > max_pixels:
            raise InvalidVideoError(
                f"the frames of {name} are {width}x{height} = {_pixels(width * height)}; the limit "
                f"is {_pixels(max_pixels)} per frame. Downscale the video and try again.")
        fps = _frame_rate(stream)
        if fps is None:
            raise InvalidVideoError(f"{name} does not state its frame rate")
        if max_fps is not None and fps > max_fps:
            raise InvalidVideoError(
                f"{name} declares {_rate(fps)} frames per second; the limit is {_rate(max_fps)}. "
                "Convert it to a usual frame rate (e.g. 30) and try again.")
        duration = _duration(container, stream, fps)
        if duration is not None and duration > max_seconds:
            raise InvalidVideoError(
                f"{name} lasts {_seconds(duration)}; the limit is {_seconds(max_seconds)}. "
                "Trim it and try again.")
        if max_fps is not None and stream.frames > math.ceil(max_seconds * max_fps):
            raise InvalidVideoError(
                f"{name} states {stream.frames:,} frames; the limit is {math.ceil(max_seconds * max_fps):,} "
                f"({_seconds(max_seconds)} at {max_fps:g} frames per second). Trim it and try again.")
        size = path.stat().st_size
        for s in (stream, *container.streams.audio[:1]):
            end = _index_end(s)
            if end > size:
                raise InvalidVideoError(
                    f"{name} is truncated: its index points to data up to byte {end:,}, but the "
                    f"file ends at byte {size:,}")
        if stream.frames > 0:
            frame_count: int | None = stream.frames
        else:
            frame_count = None if duration is None else round(duration * fps)
        audio = container.streams.audio[0] if container.streams.audio else None
        audio_codec = None
        if audio is not None:
            audio_codec = (audio.codec_context.codec.canonical_name
                           if audio.codec_context is not None else "unknown")
        video_codec = stream.codec_context.codec.canonical_name
        sar = stream.sample_aspect_ratio
        sar = Fraction(sar) if sar is not None and sar > 0 else Fraction(1)
        first = _first_frame(container, stream, name)
        return VideoInfo(
            width=width, height=height, fps=fps, duration=duration, frame_count=frame_count,
            rotation=first.rotation % 360, sample_aspect_ratio=sar, has_audio=audio is not None,
            video_codec=video_codec, audio_codec=audio_codec, container=container.format.name)


def read_frames(path: str | os.PathLike, *, max_seconds: float | None = None,
                ) -> Iterator[np.ndarray]:
    """Decode a video's frames in order, as (H, W, 3) uint8 RGB arrays, as stored (rotation not
    applied). Call :func:`probe` first: this function does not check the limits again, except the
    length: with ``max_seconds``, more frames than ``ceil(max_seconds * fps) + 1`` raise
    :class:`InvalidVideoError` (a file that hid its length, or lied about it, stops there).

    Every frame has the size of the first one: should the stream change size midway, later frames
    are scaled to it. Colours are converted with the matrix the stream declares (BT.601 when
    it declares none).

    Damage: the frames that decode are yielded first. Then a decoder or demuxer error, or fewer
    frames than the container's index lists (a truncated MP4/MOV), raises
    :class:`InvalidVideoError` saying how many frames were decoded. Without a per-frame index
    (Matroska/WebM), a stream that ends over a second before the stated duration only logs a
    warning: the declared duration also counts audio, which may legitimately run longer.
    """
    path = Path(path)
    name = path.name
    with open_input(path) as container:
        stream = _video_stream(container, name)
        if stream.codec_context is None:
            raise InvalidVideoError(
                f"the video stream of {name} uses a codec this server cannot decode")
        stream.thread_type = "AUTO"  # frame threads: decoding is the slow half on a CPU
        fps = _frame_rate(stream)
        allowed = None
        if max_seconds is not None and fps is not None:
            allowed = math.ceil(max_seconds * fps) + 1
        expected = _indexed_frames(stream)
        declared = _duration(container, stream, fps) if fps is not None else None
        size: tuple[int, int] | None = None
        count = 0
        last_end = 0.0
        try:
            for frame in container.decode(stream):
                if allowed is not None and count >= allowed:
                    raise InvalidVideoError(
                        f"{name} has more frames than {_seconds(max_seconds)} allow at "
                        f"{float(fps):g} frames per second; decoding stopped after {count} frames")
                if size is None:
                    size = (frame.width, frame.height)
                elif (frame.width, frame.height) != size:
                    log.warning("%s changes frame size at frame %d (%dx%d, first %dx%d); scaling "
                                "to the first size", name, count, frame.width, frame.height, *size)
                yield frame.to_ndarray(format="rgb24", width=size[0], height=size[1])
                count += 1
                if frame.time is not None and fps is not None:
                    last_end = frame.time + float(1 / fps)
        except av.error.FFmpegError as exc:
            raise InvalidVideoError(
                f"{name} is damaged: decoding failed after {count} frames ({exc.strerror})") from exc
        if expected is not None and count < expected:
            raise InvalidVideoError(
                f"{name} is truncated or damaged: only {count} of its {expected} frames could be "
                "decoded")
        if expected is None and declared is not None and last_end < declared - _TRUNCATION_SLACK_SECONDS:
            log.warning("%s: the video stream ends at %.2f s but the file states %.2f s; it may be "
                        "truncated", name, last_end, declared)


def read_batches(path: str | os.PathLike, batch_size: int, *, max_seconds: float | None = None,
                 ) -> Iterator[np.ndarray]:
    """:func:`read_frames` grouped: (N, H, W, 3) uint8 arrays of ``batch_size`` frames (the last
    one may hold fewer). On damage, the frames decoded before it come out (a short batch) before the
    :class:`InvalidVideoError` of :func:`read_frames`."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    batch: list[np.ndarray] = []
    try:
        for frame in read_frames(path, max_seconds=max_seconds):
            batch.append(frame)
            if len(batch) == batch_size:
                yield np.stack(batch)
                batch = []
    except InvalidVideoError:
        if batch:  # the frames decoded before the damage come out before the error
            yield np.stack(batch)
        raise
    if batch:
        yield np.stack(batch)
