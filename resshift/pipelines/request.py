"""One request in, one result out: :class:`RestoreRequest` is what every front end (the page, the
API endpoints, MCP, batches, the command line, its video path, the Ray runner) builds, and
:func:`execute` runs it on a :class:`~resshift.manager.ModelManager`'s models.

The request is checked once against the model that will run it (the task registry's inputs, the
options against the model: :meth:`RestoreOptions.resolve`), raising
:class:`~resshift.errors.InvalidRequest` with a sentence; a front end only turns its widgets, flags
or JSON into a request and shows that sentence.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..errors import InvalidRequest
from ..media.image import DecodedImage, ImageLike
from ..runtime.progress import CancelToken, ProgressEvent
from .result import RestoreResult
from .options import PhotoOptions, RestoreOptions, VideoOptions, check_task
from .registry import task_of

if TYPE_CHECKING:
    from ..manager import ModelManager
    from .video import VideoLimits

RESTORERS = ("resshift", "gfpgan")
GFPGAN_LABEL = "GFPGAN v1.4"


@dataclass(frozen=True)
class VideoTarget:
    """A video to restore: the file ``source``, the MP4 ``target`` to write, how it is restored and
    written (``options``) and what it may be (``limits``, checked from its headers); frames: its
    frame count from the headers (0: unknown), for a GPU reservation."""

    source: str | os.PathLike
    target: str | os.PathLike
    options: VideoOptions = VideoOptions()
    limits: "VideoLimits | None" = None
    frames: int = 0


@dataclass(frozen=True, eq=False)
class RestoreRequest:
    """task: a registered task ('sr', 'inpaint', 'face'); model: the model's name; image: the input
    (a file, an array, a PIL image or an already decoded image; None for a video); options: the
    sampling settings; mask: what to repaint (inpainting); photo: whole-photo settings (faces;
    None = an aligned face); sr_model: the SR model of a whole photo's background
    (``photo.background == 'sr'``); video: a video instead of an image; max_pixels: the largest
    input accepted; restorer: 'resshift', or 'gfpgan' (faces: GFPGAN v1.4, for a comparison);
    label: how the run is named in progress messages and galleries."""

    task: str
    model: str
    image: ImageLike | DecodedImage | None
    options: RestoreOptions = RestoreOptions()
    mask: ImageLike | np.ndarray | None = None
    photo: PhotoOptions | None = None
    sr_model: str | None = None
    label: str = ""
    video: VideoTarget | None = None
    max_pixels: int | None = None
    restorer: str = "resshift"

    def __post_init__(self) -> None:
        task = task_of(self.task)  # InvalidRequest for an unknown task
        if self.restorer not in RESTORERS:
            raise InvalidRequest(f"restorer must be one of {', '.join(RESTORERS)}; got {self.restorer!r}")
        if self.restorer == "gfpgan" and not task.photo:
            raise InvalidRequest("GFPGAN restores faces: its comparison is for face restoration")
        if (self.image is None) == (self.video is None):
            raise InvalidRequest("a request restores an image or a video: give one of them")

    def with_options(self, label: str, **changes: Any) -> "RestoreRequest":
        return replace(self, options=replace(self.options, **changes), label=label)

    def check(self, manager: "ModelManager") -> None:
        """The request against its model: the task's inputs and the options (InvalidRequest)."""
        if self.restorer == "gfpgan":
            return
        spec = manager.spec(self.model)
        task = task_of(self.task)
        check_task(spec, task.name)
        task.check(spec, mask=self.mask, photo=self.photo)
        self.options.resolve(spec)


def execute(manager: "ModelManager", request: RestoreRequest, *,
            callback: Callable[[ProgressEvent], None] | None = None, cancel: CancelToken | None = None,
            load_progress: Callable[[int, int | None], None] | None = None, timeout: float | None = None,
            on_frame: Callable[[int, int | None], None] | None = None) -> RestoreResult:
    """Load (or reuse) the request's networks on ``manager`` and run it: an image through its
    task's pipeline, a video through the video pipeline, GFPGAN's faces through the photo pipeline.

    callback: every sampling step and tile; cancel: checked between them and at every chunk of a
    download (its deadline, ``timeout`` seconds, starts before the networks load: a download counts
    toward the request's time); load_progress: bytes of weights downloaded; on_frame: frames done
    (videos)."""
    request.check(manager)
    if cancel is not None:  # a download counts toward the request's time, and the token stops it
        cancel.set_deadline(timeout)
        load_progress = checked(load_progress, cancel)
    photo = request.photo
    sr_model = (manager.get(request.sr_model, progress=load_progress) if photo is not None
                and photo.background == "sr" and request.sr_model else None)
    if request.restorer == "gfpgan":
        from .faces import plain_faces, restore_faces_with

        restorer = manager.gfpgan(progress=load_progress)
        return restore_faces_with(plain_faces(restorer), GFPGAN_LABEL, request.image, photo, sr_model=sr_model,
                                  helpers=manager, device=str(manager.device), callback=callback, cancel=cancel,
                                  max_pixels=request.max_pixels)
    model = manager.get(request.model, progress=load_progress)
    if request.video is not None:
        from .video import VideoLimits, restore_video

        v = request.video
        return restore_video(model, v.source, v.target, request.options, v.options, photo=photo,
                             limits=v.limits or VideoLimits(), sr_model=sr_model, helpers=manager,
                             callback=callback, on_frame=on_frame, cancel=cancel)
    return task_of(request.task).run(model, request.image, request.options, mask=request.mask, photo=photo,
                                     sr_model=sr_model, helpers=manager, callback=callback, cancel=cancel,
                                     max_pixels=request.max_pixels)


def checked(progress: Callable[[int, int | None], None] | None, cancel: CancelToken
            ) -> Callable[[int, int | None], None]:
    """A download's progress callback that first stops it when ``cancel`` says so (cancelled, or
    past the request's deadline)."""
    def report(done: int, total: int | None) -> None:
        cancel.check()
        if progress is not None:
            progress(done, total)
    return report
