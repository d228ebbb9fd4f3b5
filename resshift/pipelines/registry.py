"""The task registry: each task (super-resolution, inpainting, face restoration) declared once.

A :class:`Task` says what a request of it takes (a mask, whole-photo settings), runs its pipeline,
and names the models a user meets first (the official model and the bundled one) and what a model
comparison puts side by side. The library's ``restore``, the studio's jobs, the command line and
the catalog ask this registry instead of naming tasks; a new task is one :func:`register` call.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..errors import InvalidRequest
from ..media.image import DecodedImage, ImageLike
from ..loader import RestorationModel
from .result import RestoreResult
from ..weights.registry import TASK_TITLES, ModelSpec, a_task_model
from .faces import restore_face
from .options import PhotoOptions, RestoreOptions
from .tasks import InvalidMaskError, inpaint, super_resolve

Pipeline = Callable[..., RestoreResult]
"""pipeline(model, image, options, *, mask, photo, sr_model, helpers, callback, cancel, max_pixels)"""


@dataclass(frozen=True)
class Task:
    """name: 'sr', 'inpaint', 'face'; title: in words; run: its pipeline (:data:`Pipeline`);
    mask: a request takes (and needs) an inpainting mask; photo: a request may take whole-photo
    settings (:class:`PhotoOptions`; None = an aligned face); preferred: (the official model, the
    bundled model) a user meets first; comparison: a default model comparison, and
    comparison_on_gpu where a GPU's differs (every official model runs in seconds there);
    whole_input_work: the request's work is the whole input at its settings (faces: the photo's
    background, as the faces are not known before they are found); help: what it does, for the
    command line's help; video: its models restore videos frame by frame."""

    name: str
    run: Pipeline
    help: str
    preferred: tuple[str, str]
    comparison: tuple[str, ...]
    comparison_on_gpu: tuple[str, ...] = ()
    mask: bool = False
    photo: bool = False
    whole_input_work: bool = True
    video: bool = False

    @property
    def title(self) -> str:
        return TASK_TITLES[self.name]

    def check(self, spec: ModelSpec, *, mask: Any = None, photo: PhotoOptions | None = None) -> None:
        """Refuse inputs this task does not take (or lacks): InvalidRequest with a sentence."""
        if mask is not None and not self.mask:
            raise InvalidRequest(f"a mask is for inpainting; the model {spec.name} is {a_task_model(self.name)}")
        if photo is not None and not self.photo:
            raise InvalidRequest(f"whole-photo settings are for face restoration; the model {spec.name} "
                                 f"is {a_task_model(self.name)}")
        if mask is None and self.mask:
            raise InvalidMaskError("inpainting needs a mask: white (or 1) marks the pixels to repaint")


TASK_REGISTRY: dict[str, Task] = {}


def register(task: Task) -> Task:
    if task.name in TASK_REGISTRY:
        raise ValueError(f"task {task.name!r} is registered already")
    TASK_REGISTRY[task.name] = task
    return task


def task_of(name_or_spec: str | ModelSpec) -> Task:
    """The registered task of that name, or of that model."""
    name = name_or_spec.task if isinstance(name_or_spec, ModelSpec) else name_or_spec
    try:
        return TASK_REGISTRY[name]
    except KeyError:
        raise InvalidRequest(f"task must be one of {', '.join(TASK_REGISTRY)}; got {name!r}") from None


def restore(model: RestorationModel, image: ImageLike | DecodedImage, options: RestoreOptions = RestoreOptions(),
            *, mask: Any = None, photo: PhotoOptions | None = None, sr_model: RestorationModel | None = None,
            helpers=None, **kwargs) -> RestoreResult:
    """Run the pipeline of the model's task: super-resolution, inpainting (needs ``mask``) or face
    restoration (``photo``: a whole photo; ``sr_model``: its background's SR model; ``helpers``: the
    owner of its face networks, e.g. a ModelManager). kwargs: callback, cancel, max_pixels."""
    task = task_of(model.spec)
    task.check(model.spec, mask=mask, photo=photo)
    return task.run(model, image, options, mask=mask, photo=photo, sr_model=sr_model, helpers=helpers, **kwargs)


def _sr(model, image, options, *, mask, photo, sr_model, helpers, **kwargs) -> RestoreResult:
    return super_resolve(model, image, options, **kwargs)


def _inpaint(model, image, options, *, mask, photo, sr_model, helpers, **kwargs) -> RestoreResult:
    return inpaint(model, image, mask, options, **kwargs)


def _face(model, image, options, *, mask, photo, sr_model, helpers, **kwargs) -> RestoreResult:
    return restore_face(model, image, options, photo=photo, sr_model=sr_model, helpers=helpers, **kwargs)


register(Task("sr", _sr, "super-resolution", preferred=("realsr-v3", "lite-sr"),
              comparison=("realsr-v3", "sinsr", "lite-sr"), comparison_on_gpu=("realsr-v3", "rsd", "sinsr"),
              video=True))
register(Task("inpaint", _inpaint, "fill the --mask area", preferred=("inpaint-imagenet", "lite-inpaint"),
              comparison=("inpaint-imagenet", "lite-inpaint"), mask=True))
register(Task("face", _face, "restore the faces of a photo (or --aligned 512x512 faces)",
              preferred=("faceir", "lite-face"), comparison=("faceir", "lite-face"), photo=True,
              whole_input_work=False, video=True))
