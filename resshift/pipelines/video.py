"""Videos: every frame restored with a model, in batches, into an H.264 MP4 with the source's frame
rate, audio and rotation.

``restore_video(model, "clip.mp4", "clip_x4.mp4")`` runs the model's task on every frame: x4
super-resolution, or face restoration (an aligned-face clip, or whole frames: every face of every
frame found, aligned, restored and pasted back). The file is checked from its headers before any
frame is decoded (:func:`resshift.media.probe`: no video stream, an unknown codec, too long, frames
too large or too small, truncated), frames are decoded, restored ``batch_size`` at a time and
encoded as they come, and the output appears only when complete (:class:`~resshift.media.VideoWriter`).

Noise. Diffusion restores detail partly from its noise, so frames restored with noise of their own
flicker: the same wall gets a different texture in every frame. **Steady noise** (the default)
draws the noise once from the seed and gives every frame the same field (the sampler's
``shared_noise`` within a batch; the same seed and tile layout for every batch), so static content
is restored the same way in every frame. **Fresh noise** gives frame ``i`` noise of its own (each
batch draws it from ``seed + i``, its first frame's index), for comparison. Steady noise helps where
the picture stands still or moves slowly; once content moves by more than the restored detail's
grain (a few output pixels per frame), the noise under it changes anyway and both flicker alike
(``benchmarks/flicker.py``; figures in benchmarks/RESULTS.md).
"""
from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InvalidRequest
from ..media.image import batch_from_model_output, batch_to_model_input
from ..face.align import check_aligned_size, is_aligned_size
from ..loader import RestorationModel
from ..weights.registry import a_task_model
from ..media import InvalidVideoError, VideoInfo, VideoWriter, probe, read_batches
from ..runtime.progress import CancelToken, ProgressEvent, check
from .result import RestoreResult
from .faces import FACE_SIZE, restore_aligned_tensor, restore_faces_with
from .options import SEED_LIMIT, PhotoOptions, RestoreOptions, VideoOptions
from .plan import plan_tiles
from .registry import task_of
from .restore import default_tile, default_unet_tile, finish, model_geometry, run_model

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class VideoLimits:
    """What a video may be, checked from its headers before any frame is decoded.

    max_seconds: longest duration; max_pixels: largest stored frame (width x height); min_side:
    the shortest frame side in pixels; max_output_pixels: largest restored frame (None: no limit);
    max_fps: highest frame rate a file may declare (a 0.03 s clip declaring 100,000 fps is 3,000
    frames); so a video has at most :attr:`max_frames` frames.
    The command line's defaults; the studio sets its own (studio/video.py)."""

    max_seconds: float = 600.0
    max_pixels: int = 1920 * 1080
    min_side: int = 16
    max_output_pixels: int | None = None
    max_fps: float = 120.0

    def __post_init__(self) -> None:
        if not self.max_seconds > 0 or self.max_pixels < 1 or self.min_side < 1 or not self.max_fps > 0:
            raise ValueError("video limits must be positive")

    @property
    def max_frames(self) -> int:
        """The most frames a video within these limits has: its longest duration at the highest rate."""
        return math.ceil(self.max_seconds * self.max_fps)


def frame_seed(options: RestoreOptions, video: VideoOptions, index: int) -> int:
    """The seed that frame ``index`` (0-based) is restored with: the run's seed for steady noise,
    ``seed + index`` for fresh noise (for a batch: its first frame's)."""
    return options.seed if video.noise == "steady" else (options.seed + index) % SEED_LIMIT


def sampled_whole(model: RestorationModel, options: RestoreOptions, height: int, width: int) -> bool:
    """Whether :func:`~resshift.pipelines.restore.run_model` samples a height x width frame in one
    call (then frames can share a batch) rather than in tiles, one frame at a time: run_model's own
    plan (:func:`~resshift.pipelines.plan.plan_tiles`) for the frame size padded as it pads."""
    multiple = model.input_multiple
    h, w = -(-height // multiple) * multiple, -(-width // multiple) * multiple
    return plan_tiles(model_geometry(model), h, w, options, tile_default=default_tile(model),
                      unet_tile_default=default_unet_tile(model)).whole


StepCallback = Callable[[ProgressEvent], None] | None


class _Frames:
    """Restores batches of frames of one video: (N, H, W, 3) uint8 -> (N, H', W', 3) uint8."""

    def __init__(self, model: RestorationModel, options: RestoreOptions, video: VideoOptions,
                 photo: PhotoOptions | None, sr_model: RestorationModel | None, helpers,
                 cancel: CancelToken | None):
        self.model, self.options, self.video, self.photo = model, options, video, photo
        self.sr_model, self.helpers, self.cancel = sr_model, helpers, cancel
        self.steady = video.noise == "steady"
        self.face = task_of(model.spec).photo  # a face model: aligned faces, or the faces of whole frames
        self.faces = 0  # whole frames: faces restored so far, in all frames
        self.frames_with_faces = 0

    def batch_size(self, height: int, width: int) -> int:
        if self.face:  # aligned faces are sampled whole at 512x512; whole photos go frame by frame
            return 1 if self.photo is not None else self.video.batch_size
        return self.video.batch_size if sampled_whole(self.model, self.options, height, width) else 1

    def __call__(self, frames: np.ndarray, first: int, callback: StepCallback) -> tuple[np.ndarray, int]:
        """Restore frames[0..N) (frame indices first..first+N) -> (restored, tiles)."""
        options = replace(self.options, seed=frame_seed(self.options, self.video, first))
        if self.photo is not None:
            return self._photo(frames[0], options, callback)[None], 1
        y = batch_to_model_input(frames)
        if not self.face:
            run = run_model(self.model, y, options, callback=callback, cancel=self.cancel,
                            shared_noise=self.steady)
            return batch_from_model_output(finish(run.image, y, options)), run.tiles
        return self._aligned(frames, options, callback), 1

    def _faces(self, y: torch.Tensor, options: RestoreOptions, callback: StepCallback) -> torch.Tensor:
        """(N, 3, 512, 512) aligned faces in [-1, 1] -> restored, ``batch_size`` at a time."""
        return restore_aligned_tensor(self.model, y, options, batch_size=self.video.batch_size,
                                      shared_noise=self.steady, callback=callback, cancel=self.cancel)

    def _aligned(self, frames: np.ndarray, options: RestoreOptions, callback: StepCallback) -> np.ndarray:
        h, w = frames.shape[1:3]
        y = batch_to_model_input(frames)
        if (h, w) != (FACE_SIZE, FACE_SIZE):
            y = F.interpolate(y, size=(FACE_SIZE, FACE_SIZE), mode="bicubic", align_corners=False).clamp(-1, 1)
        out = self._faces(y, options, callback)
        if (h, w) != (FACE_SIZE, FACE_SIZE):
            out = F.interpolate(out, size=(h, w), mode="bicubic", align_corners=False)
        return batch_from_model_output(out)

    def _photo(self, frame: np.ndarray, options: RestoreOptions, callback: StepCallback) -> np.ndarray:
        def restorer(crops: np.ndarray, on_step: StepCallback) -> np.ndarray:
            return batch_from_model_output(self._faces(batch_to_model_input(crops), options, on_step))

        result = restore_faces_with(restorer, self.model.spec.name, frame, self.photo,
                                    run={"seed": options.seed}, sr_model=self.sr_model, helpers=self.helpers,
                                    device=str(self.model.device), callback=callback, cancel=self.cancel)
        self.faces += len(result.faces)
        self.frames_with_faces += bool(result.faces)
        return result.image[..., :3]


def output_size(model: RestorationModel, info: VideoInfo, photo: PhotoOptions | None,
                options: RestoreOptions | None = None) -> tuple[int, int]:
    """(width, height) of the restored frames of a video ``info`` describes (``options``: resolved,
    their output scale; None: the model's own; a whole photo's faces: the photo's scale)."""
    if photo is not None:
        scale = photo.scale
    else:
        scale = options.scale if options is not None and options.scale else model.spec.diffusion.sf
    return info.width * scale, info.height * scale


def check_video_request(model: RestorationModel, options: RestoreOptions, photo: PhotoOptions | None
                        ) -> RestoreOptions:
    """The request's checks that need no file: the task (super-resolution or faces), the options
    against the model. Returns the options resolved. Raises InvalidRequest."""
    task = task_of(model.spec)
    if not task.video:
        raise InvalidRequest(f"videos are restored by super-resolution or face models; {model.spec.name} "
                             f"is {a_task_model(task.name)}")
    task.check(model.spec, photo=photo)
    return options.resolve(model.spec)


def restore_video(
    model: RestorationModel,
    source: str | os.PathLike,
    target: str | os.PathLike,
    options: RestoreOptions = RestoreOptions(),
    video: VideoOptions = VideoOptions(),
    *,
    photo: PhotoOptions | None = None,
    limits: VideoLimits = VideoLimits(),
    sr_model: RestorationModel | None = None,
    helpers=None,
    callback: Callable[[ProgressEvent], None] | None = None,
    on_frame: Callable[[int, int | None], None] | None = None,
    cancel: CancelToken | None = None,
) -> RestoreResult:
    """Restore every frame of the video ``source`` with ``model`` into the MP4 ``target``.

    The model's task decides what is done: super-resolution (frames x sf), or faces: ``photo``
    None for a clip of aligned faces (square frames, restored at 512x512 and resized back), or
    :class:`PhotoOptions` to find and restore every face of every frame (sr_model: the background's
    SR model for ``background='sr'``; helpers: who owns the face detector and parser, e.g. a
    :class:`~resshift.manager.ModelManager`). Frame rate, rotation, pixel shape and the first
    audio stream are kept.

    Refused with :class:`~resshift.media.InvalidVideoError` (an InvalidRequest) before any frame is
    decoded: what :func:`resshift.media.probe` refuses under ``limits``, and restored frames over
    ``limits.max_output_pixels``. A file damaged midway raises it after the frames before the damage
    were restored; nothing is written then (nor when cancelled: ``cancel`` is checked between
    frames, sampling steps and tiles).

    callback: a :class:`ProgressEvent` after every sampling step and every batch (``done``: the
    fraction of frames restored, ``what``: e.g. 'frames 5-8 of 120: step 2/4'); on_frame(done,
    total): after every batch, frames written so far and the total (None when the file does not
    say; first called with 0 once the file is accepted). Returns a :class:`RestoreResult` whose
    image is the first restored frame and whose ``extra`` holds the video's facts: video (the
    target), frames, fps, noise, audio ('copied', 're-encoded' or 'none'), rotation, input_size,
    seconds_per_frame, and for whole frames of faces scale, faces (restored in all frames) and
    frames_with_faces.
    """
    started = time.perf_counter()
    options = check_video_request(model, options, photo)
    info = probe(source, max_seconds=limits.max_seconds, max_pixels=limits.max_pixels, max_fps=limits.max_fps,
                 min_side=limits.min_side)
    name = os.path.basename(os.fspath(source))
    if task_of(model.spec).photo and photo is None and not is_aligned_size(info.width, info.height):
        raise InvalidVideoError(
            f"the frames of {name} are {info.width}x{info.height}; a video of aligned faces has square "
            "frames (512x512). Use whole-photo mode to find and restore the faces in every frame.")
    out_w, out_h = output_size(model, info, photo, options)
    if limits.max_output_pixels is not None and out_w * out_h > limits.max_output_pixels:
        raise InvalidVideoError(
            f"the restored frames of {name} would be {out_w}x{out_h} pixels; the limit is "
            f"{limits.max_output_pixels / 1e6:.2f} megapixels per frame. Use a smaller video or output scale.")
    check(cancel)
    restore = _Frames(model, options, video, photo, sr_model, helpers, cancel)
    batch = restore.batch_size(info.height, info.width)
    total = info.frame_count
    done, tiles, first_frame = 0, 1, None

    def on_step(event: ProgressEvent, start: int, count: int) -> None:
        if callback is None:
            return
        what = f"frame {start + 1}" if count == 1 else f"frames {start + 1}-{start + count}"
        what += f" of {total}" if total else ""
        inner = event.describe()
        fraction = (start + event.fraction * count) / total if total else 0.0
        callback(ProgressEvent.stage(fraction, f"{what}: {inner}" if inner else what))

    log.info("%s: %dx%d, %s fps, %s frames, batches of %d, %s noise", name, info.width, info.height,
             info.fps, total if total is not None else "?", batch, video.noise)
    if on_frame is not None:
        on_frame(0, total)
    with VideoWriter(target, fps=info.fps, rotation=info.rotation, sample_aspect_ratio=info.sample_aspect_ratio,
                     audio_from=source if info.has_audio else None, crf=video.crf, preset=video.preset) as writer:
        for frames in read_batches(source, batch, max_seconds=limits.max_seconds):
            check(cancel)
            start, count = done, len(frames)
            out, tiles = restore(frames, start, lambda e, s=start, c=count: on_step(e, s, c))
            for frame in out:
                writer.write(frame)
            if first_frame is None:
                first_frame = out[0].copy()
            done += count
            if callback is not None:
                fraction = min(done / total, 1.0) if total else 0.0
                callback(ProgressEvent.stage(fraction, f"frame {done}" + (f" of {total}" if total else "")))
            if on_frame is not None:
                on_frame(done, total)
        if first_frame is None:
            raise InvalidVideoError(f"{name} has no frame that can be decoded")
        check(cancel)  # nothing is written when cancelled after the last frame
    audio = "none" if writer.audio_copied is None else ("copied" if writer.audio_copied else "re-encoded")
    seconds = time.perf_counter() - started
    schedule = model.schedule(options.steps, options.kappa, options.spacing)
    extra = {"video": os.fspath(target), "frames": done, "fps": str(info.fps), "noise": video.noise,
             "audio": audio, "rotation": info.rotation, "input_size": f"{info.width}x{info.height}",
             "seconds_per_frame": round(seconds / max(done, 1), 3)}
    if photo is not None:
        extra.update(scale=photo.scale, faces=restore.faces, frames_with_faces=restore.frames_with_faces)
    return RestoreResult(
        image=first_frame, model=model.spec.name, device=str(model.device), seconds=seconds,
        steps=schedule.num_steps, kappa=schedule.kappa, seed=options.seed, timesteps=schedule.timesteps,
        tiles=tiles, scale=None if photo is None else photo.scale,
        message="" if photo is None else (f"Restored {restore.faces} face{'s' if restore.faces != 1 else ''} in "
                                          f"{restore.frames_with_faces} of {done} frames."),
        extra=extra)


def restore_frames(model: RestorationModel, frames: Iterable[np.ndarray], options: RestoreOptions = RestoreOptions(),
                   video: VideoOptions = VideoOptions(), *, photo: PhotoOptions | None = None,
                   sr_model: RestorationModel | None = None, helpers=None,
                   cancel: CancelToken | None = None) -> Iterator[np.ndarray]:
    """The frames of a clip already in memory ((H, W, 3) uint8 RGB arrays, all one size), restored as
    :func:`restore_video` restores a file's (same batches, same noise), yielded in order. For
    measurements (``benchmarks/flicker.py``) and callers with their own I/O."""
    options = check_video_request(model, options, photo)
    restore: _Frames | None = None
    batch: list[np.ndarray] = []
    done = 0

    def flush() -> Iterator[np.ndarray]:
        nonlocal done
        out, _ = restore(np.stack(batch), done, None)
        done += len(batch)
        batch.clear()
        yield from out

    size = None
    for frame in frames:
        if restore is None:
            size = frame.shape
            if task_of(model.spec).photo and photo is None:
                check_aligned_size(frame.shape[1], frame.shape[0])
            restore = _Frames(model, options, video, photo, sr_model, helpers, cancel)
            per_call = restore.batch_size(*frame.shape[:2])
        elif frame.shape != size:
            raise InvalidRequest(f"frame {done + len(batch)} is {frame.shape}; the first was {size}")
        check(cancel)
        batch.append(frame)
        if len(batch) == per_call:
            yield from flush()
    if batch:
        yield from flush()
