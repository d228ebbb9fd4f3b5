"""One unit of model work (a "job") and running a list of them with progress, a deadline, a cancel
token and the model cache. No gradio here: the UI edge (studio/handlers.py) turns errors into
messages.

Jobs are plain picklable data (numpy arrays, dataclasses), so on a ZeroGPU Space the list can be
sent to the GPU worker process as is.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable

import numpy as np

from resshift.manager import ModelManager
from resshift.pipelines import (CancelToken, DecodedImage, PhotoOptions, ProgressEvent, RestoreOptions,
                                RestoreResult, inpaint, restore_face, super_resolve)
from resshift.pipelines.faces import plain_faces, restore_faces_with

Report = Callable[[float, str], None]
"""report(fraction in [0, 1], description) - how a run tells the UI how far it is."""

GFPGAN_LABEL = "GFPGAN v1.4"


@dataclass(frozen=True, eq=False)
class Job:
    """task: 'sr', 'inpaint', 'face' or 'face_gfpgan' (the same face job restored by GFPGAN v1.4,
    for the comparison). image: the decoded input; options: already resolved against the model;
    mask: (H, W) bool, True = repaint (inpainting only); photo: whole-photo settings (faces; None =
    an aligned face) and sr_model: the background's SR model when ``photo.background == 'sr'``;
    label: how the run is named in progress messages and galleries."""

    task: str
    model: str
    image: DecodedImage
    options: RestoreOptions
    mask: np.ndarray | None = None
    photo: PhotoOptions | None = None
    sr_model: str | None = None
    label: str = ""

    def with_options(self, label: str, **changes: Any) -> "Job":
        return replace(self, options=replace(self.options, **changes), label=label)


def checked(progress: Callable[[int, int | None], None] | None, cancel: CancelToken
            ) -> Callable[[int, int | None], None]:
    """A download's progress callback that first stops it when ``cancel`` says so (cancelled, or
    past the request's deadline)."""
    def report(done: int, total: int | None) -> None:
        cancel.check()
        if progress is not None:
            progress(done, total)
    return report


def run_job(manager: ModelManager, job: Job, callback: Callable[[ProgressEvent], None],
            cancel: CancelToken, load_progress: Callable[[int, int | None], None] | None = None,
            timeout: float | None = None) -> RestoreResult:
    """Load (or reuse) the job's networks and run its pipeline. The deadline (``timeout`` seconds)
    starts before the networks are loaded: a download counts toward the request's time, and the
    token stops it (checked at every chunk that arrives)."""
    cancel.set_deadline(timeout)
    load_progress = checked(load_progress, cancel)
    sr_model = (manager.get(job.sr_model, progress=load_progress)
                if job.photo is not None and job.photo.background == "sr" else None)
    if job.task == "face_gfpgan":
        restorer = manager.gfpgan(progress=load_progress)
        return restore_faces_with(plain_faces(restorer), GFPGAN_LABEL, job.image, job.photo, sr_model=sr_model,
                                  helpers=manager, device=str(manager.device), callback=callback, cancel=cancel)
    model = manager.get(job.model, progress=load_progress)
    kwargs = {"callback": callback, "cancel": cancel}
    if job.task == "sr":
        return super_resolve(model, job.image, job.options, **kwargs)
    if job.task == "inpaint":
        return inpaint(model, job.image, job.mask, job.options, **kwargs)
    if job.task == "face":
        return restore_face(model, job.image, job.options, photo=job.photo, sr_model=sr_model, helpers=manager,
                            **kwargs)
    raise ValueError(f"unknown task {job.task!r}")


def run_jobs(manager: ModelManager, jobs: list[Job], report: Report | None = None,
             timeout: float | None = None, cancel: CancelToken | None = None) -> list[RestoreResult]:
    """Run jobs in order, reporting progress per sampling step, tile and photo stage (and per
    downloaded chunk of weights). ``cancel`` (one token for the request; a fresh one when None)
    stops the run at its next step, tile or downloaded chunk; its deadline, ``timeout`` seconds
    in total, starts before the first job's networks are loaded (a download counts). Raises resshift.progress.Cancelled
    (RequestTimeout for the deadline)."""
    report = report or (lambda fraction, desc: None)
    cancel = cancel or CancelToken()
    cancel.check()
    results = []
    n = len(jobs)
    for j, job in enumerate(jobs):
        prefix = f"{job.label}: " if n > 1 and job.label else ""

        def on_event(event: ProgressEvent, j=j, prefix=prefix) -> None:
            report((j + event.fraction) / n, prefix + event.describe())

        def on_download(done: int, total: int | None, j=j, name=job.model) -> None:
            size = f" of {total / 1e6:.0f} MB" if total else ""
            report(j / n, f"downloading the weights of {name}: {done / 1e6:.0f} MB{size}")

        if job.model not in manager.loaded():
            report(j / n, f"loading model {job.model}")
        results.append(run_job(manager, job, on_event, cancel, on_download, timeout))
    return results
