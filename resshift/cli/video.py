"""The command line's video branch: ``python -m resshift sr clip.mp4 -o clip_x4.mp4`` (and ``face``).

``cli.py`` adds these flags to its parser (:func:`add_arguments`), names the output while it checks
the arguments (:func:`target_for`) and hands a video input here (:func:`is_video`, :func:`run`)
once the model is loaded. A video is refused from its headers (no video stream, an unknown codec,
too long, frames too large or too small, truncated) with one ``skipped NAME: sentence`` line on
stderr and exit status 1, as a bad image is; a run shows a progress bar per frame and prints its
result as one JSON line on stdout (``cli_lines.py``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .lines import result_line, skipped_line
from ..errors import InvalidRequest
from ..pipelines.files import restore_file
from ..media.image import parse_pixels
from ..pipelines.request import RestoreRequest, VideoTarget, execute
from ..pipelines.options import NOISES, VideoOptions
from ..pipelines.video import VideoLimits

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".m2ts",
                            ".mts", ".wmv", ".flv", ".3gp", ".ogv"})
# audio files go the video way too, so that they are refused with the media layer's sentence
AUDIO_SUFFIXES = frozenset({".m4a", ".mp3", ".wav", ".aac", ".flac", ".ogg", ".opus"})
OUTPUT_SUFFIXES = (".mp4", ".m4v", ".mov")
DEFAULTS = VideoLimits()


def _batch(text: str) -> int:
    try:
        return VideoOptions(batch_size=int(text)).batch_size
    except (ValueError, InvalidRequest) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _crf(text: str) -> int:
    try:
        return VideoOptions(crf=int(text)).crf
    except (ValueError, InvalidRequest) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return value


def _frame_pixels(text: str) -> int:
    try:
        return parse_pixels(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The video flags (they apply when INPUT is a video)."""
    group = parser.add_argument_group("videos (INPUT a video file, OUTPUT an .mp4)")
    group.add_argument("--noise", choices=NOISES, default="steady",
                       help="steady: the same noise for every frame (less flicker; default); "
                            "fresh: new noise for every frame")
    group.add_argument("--batch-size", type=_batch, default=4, help="frames per network call (default 4)")
    group.add_argument("--max-video-seconds", type=_seconds, default=DEFAULTS.max_seconds,
                       help=f"refuse longer videos, from their headers (default {DEFAULTS.max_seconds:g})")
    group.add_argument("--max-frame-pixels", type=_frame_pixels, default=DEFAULTS.max_pixels,
                       help="refuse videos with larger frames, e.g. 1280x720 (default 1920x1080)")
    group.add_argument("--crf", type=_crf, default=18,
                       help="H.264 quality of the output, 0 lossless .. 51 (default 18)")


def is_video(path: Path) -> bool:
    """A file the video pipeline reads (by its suffix: videos, and audio files to refuse)."""
    return path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES | AUDIO_SUFFIXES


def target_for(source: Path, output: Path) -> Path:
    """``-o clip_x4.mp4``, or ``-o folder`` (existing, or named without a suffix): folder/clip.mp4.
    Raises ValueError for another suffix (the output is always an MP4)."""
    if output.is_dir() or not output.suffix:
        return output / f"{source.stem}.mp4"
    if output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ValueError(f"a video is written as MP4: name the output {output.stem}.mp4, not {output.name}")
    return output


def run(args: argparse.Namespace, target: Path, model: str, options, photo, manager) -> int:
    """Restore the video ``args.input`` to ``target`` (:func:`target_for`): 0 done, 1 refused or failed."""
    from tqdm import tqdm

    source = Path(args.input)
    video = VideoOptions(noise=args.noise, batch_size=args.batch_size, crf=args.crf)
    limits = VideoLimits(max_seconds=args.max_video_seconds, max_pixels=args.max_frame_pixels)
    bars: list = []  # the progress bar, made once the file is accepted (its frame count known)

    def on_frame(done: int, total: int | None) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="frame", desc=source.name, disable=args.quiet, file=sys.stderr))
        bar = bars[0]
        if bar.total is not None and done > bar.total:  # the header's count was an estimate
            bar.total = done
        bar.update(done - bar.n)

    def on_step(event) -> None:
        if bars:
            bars[0].set_postfix_str(event.describe(), refresh=False)

    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        request = RestoreRequest(args.task, model, None, options, photo=photo,
                                 video=VideoTarget(source, target, video, limits))
        outcome = restore_file(source, target, lambda: execute(manager, request, on_frame=on_frame, callback=on_step),
                               save=False,
            out_of_memory="out of memory; try a smaller --batch-size or --tile")
    finally:
        for bar in bars:
            bar.close()
    if not outcome.ok:
        tqdm.write(skipped_line(source.name, outcome.reason), file=sys.stderr)
        return 1
    print(result_line(source, target, outcome.result.facts()))
    return 0
