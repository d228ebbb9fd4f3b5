"""One unit of model work (a "job") and running a list of them with progress, a deadline and the
model cache. No gradio here: the UI edge (studio/handlers.py) turns errors into messages.

Jobs are plain picklable data (numpy arrays, dataclasses), so on a ZeroGPU Space the list can be
sent to the GPU worker process as is.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from PIL import Image

from resshift.face import default_detector, gfpgan_restorer, restore_aligned, restore_photo
from resshift.face.parsing import default_masker
from resshift.manager import ModelManager
from resshift.pipelines.face_photo import restore_photo_with_model, sr_background
from resshift.pipelines.image_io import to_uint8
from resshift.pipelines import (DecodedImage, ProgressEvent, RestoreOptions, RestoreResult, inpaint,
                                restore_face, super_resolve)

log = logging.getLogger(__name__)

Report = Callable[[float, str], None]
"""report(fraction in [0, 1], description) - how a run tells the UI how far it is."""


class RequestTimeout(Exception):
    """The request sampled for longer than the server's per-request limit."""

    def __init__(self, limit: float):
        self.limit = limit
        super().__init__(f"stopped after the server's limit of {limit:.0f} seconds per request")


@dataclass(frozen=True, eq=False)
class PhotoSettings:
    """Whole-photo face restoration: output scale (1, 2, 4), background ('resize' or 'sr', the
    latter with ``sr_model``), which faces ('all', 'largest', 'center') and the smallest face
    (longer box side, pixels)."""

    scale: int = 1
    background: str = "resize"
    sr_model: str | None = None
    select: str = "all"
    min_face_size: int = 32


@dataclass(frozen=True, eq=False)
class Job:
    """task: 'sr', 'inpaint', 'face' (an aligned face), 'face_photo' (a whole photo) or
    'face_gfpgan' (either of the two faces jobs, restored by GFPGAN v1.4 for comparison).

    image: the decoded input; mask: (H, W) bool, True = repaint (inpainting only);
    label: how the run is named in progress messages and galleries.
    """

    task: str
    model: str
    image: DecodedImage
    options: RestoreOptions
    mask: np.ndarray | None = None
    photo: PhotoSettings | None = None
    label: str = ""

    def with_options(self, label: str, **changes: Any) -> "Job":
        return replace(self, options=replace(self.options, **changes), label=label)


@dataclass(frozen=True, eq=False)
class FaceRun:
    """The result of a whole-photo run, shaped like RestoreResult where the UI needs it."""

    image: np.ndarray
    seconds: float
    message: str
    info: dict = field(default_factory=dict)

    def facts(self) -> dict:
        h, w = self.image.shape[:2]
        return {**self.info, "seconds": round(self.seconds, 3), "size": f"{w}x{h}"}


def _photo_call(manager: ModelManager, model, job: Job, callback, stage: Report | None) -> FaceRun:
    settings = job.photo or PhotoSettings()
    sr_model = manager.get(settings.sr_model) if settings.background == "sr" and settings.sr_model else None
    started = time.perf_counter()
    result = restore_photo_with_model(model, job.image, job.options, scale=settings.scale,
                                      background=settings.background, sr_model=sr_model,
                                      select=settings.select, min_face_size=settings.min_face_size,
                                      allow_download=manager.allow_download, callback=callback,
                                      progress=stage)
    return FaceRun(image=np.asarray(result.image), seconds=time.perf_counter() - started,
                   message=str(result.message), info=dict(result.facts()))


def describe_event(event: ProgressEvent | float) -> tuple[float, str]:
    """(fraction of this run done, 'step 3/4, tile 2/9') for a pipeline progress event."""
    if isinstance(event, ProgressEvent):
        return event.fraction, event.describe()
    fraction = float(getattr(event, "fraction", event))  # other pipelines may report a number
    return min(max(fraction, 0.0), 1.0), "restoring"


GFPGAN_LABEL = "GFPGAN v1.4"
_gfpgan_lock = threading.Lock()
_gfpgan: dict[str, Callable[[np.ndarray], np.ndarray]] = {}


def gfpgan_for(manager: ModelManager) -> Callable[[np.ndarray], np.ndarray]:
    """GFPGAN v1.4 on the manager's device, loaded once per process (weights downloaded on first
    use when the manager allows downloads; WeightsUnavailable otherwise)."""
    key = str(manager.device)
    with _gfpgan_lock:
        if key not in _gfpgan:
            _gfpgan[key] = gfpgan_restorer(device=manager.device, allow_download=manager.allow_download,
                                           weights_dir=manager.weights_dir)
        return _gfpgan[key]


def _gfpgan_call(manager: ModelManager, job: Job, stage: Report | None) -> FaceRun:
    """The same face job restored by GFPGAN v1.4 instead of ResShift (for the comparison)."""
    restorer = gfpgan_for(manager)
    started = time.perf_counter()
    rgb = to_uint8(job.image.rgb)
    if job.photo is None:
        face = restore_aligned(rgb, restorer)
        h, w = rgb.shape[:2]
        if face.shape[:2] != (h, w):
            face = np.asarray(Image.fromarray(face).resize((w, h), Image.BICUBIC))
        image, message, count = face, "", 1
    else:
        settings = job.photo
        sr_model = manager.get(settings.sr_model) if settings.background == "sr" and settings.sr_model else None
        result = restore_photo(
            rgb, restorer, scale=settings.scale, select=settings.select,
            min_face_size=settings.min_face_size, progress=stage,
            upscale_background=None if sr_model is None else sr_background(sr_model, job.options),
            detector=default_detector(manager.allow_download),
            face_masks=default_masker(manager.allow_download))
        image, message, count = result.image, result.message, len(result.faces)
    return FaceRun(image=image, seconds=time.perf_counter() - started, message=message,
                   info={"model": GFPGAN_LABEL, "faces": count})


def run_job(manager: ModelManager, job: Job, callback: Callable[[ProgressEvent], None] | None,
            load_progress: Callable[[int, int | None], None] | None = None,
            stage: Report | None = None) -> RestoreResult | FaceRun:
    """Load (or reuse) the job's model and run its pipeline. ``stage(fraction, message)``: the
    whole-photo pipeline's stages (detecting, restoring, pasting)."""
    if job.task == "face_gfpgan":
        return _gfpgan_call(manager, job, stage)
    model = manager.get(job.model, progress=load_progress)
    if job.task == "sr":
        return super_resolve(model, job.image, job.options, callback=callback)
    if job.task == "inpaint":
        return inpaint(model, job.image, job.mask, job.options, callback=callback)
    if job.task == "face":
        return restore_face(model, job.image, job.options, callback=callback)
    if job.task == "face_photo":
        return _photo_call(manager, model, job, callback, stage)
    raise ValueError(f"unknown task {job.task!r}")


def run_jobs(manager: ModelManager, jobs: list[Job], report: Report | None = None,
             timeout: float | None = None) -> list[RestoreResult | FaceRun]:
    """Run jobs in order, reporting progress per sampling step and tile (and per downloaded chunk
    of weights). Raises RequestTimeout when sampling runs past ``timeout`` seconds in total (counted
    from the first sampling step, so loading or downloading a model does not count)."""
    report = report or (lambda fraction, desc: None)
    deadline: list[float] = []  # set at the first step
    results = []
    n = len(jobs)
    for j, job in enumerate(jobs):
        prefix = f"{job.label}: " if n > 1 and job.label else ""

        last_stage = [0.0, ""]  # the whole-photo pipeline's latest stage: fraction, message

        def on_step(event: ProgressEvent | float, j=j, prefix=prefix, last_stage=last_stage) -> None:
            if timeout is not None:
                if not deadline:
                    deadline.append(time.monotonic() + timeout)
                elif time.monotonic() > deadline[0]:
                    raise RequestTimeout(timeout)
            fraction, desc = describe_event(event)
            if last_stage[1]:  # inside a photo: keep the stage's place, name the step
                fraction, desc = last_stage[0], f"{last_stage[1]}: {desc}"
            report((j + fraction) / n, prefix + desc)

        def on_stage(fraction: float, message: str, j=j, prefix=prefix, last_stage=last_stage) -> None:
            last_stage[:] = [fraction, message]
            report((j + fraction) / n, prefix + message)

        def on_download(done: int, total: int | None, j=j, name=job.model) -> None:
            size = f" of {total / 1e6:.0f} MB" if total else ""
            report(j / n, f"downloading the weights of {name}: {done / 1e6:.0f} MB{size}")

        if job.model not in manager.loaded():
            report(j / n, f"loading model {job.model}")
        results.append(run_job(manager, job, on_step, on_download, on_stage))
    return results
