"""``restore``: any task, by the model's: super-resolution, inpainting (with a mask) or face
restoration (an aligned face, or a whole photo with ``photo``)."""
from __future__ import annotations

import numpy as np

from ..errors import InvalidRequest
from ..image_io import DecodedImage, ImageLike
from ..loader import RestorationModel
from ..result import RestoreResult
from ..weights.registry import a_task_model
from .faces import restore_face
from .options import PhotoOptions, RestoreOptions
from .tasks import InvalidMaskError, inpaint, super_resolve


def restore(model: RestorationModel, image: ImageLike | DecodedImage, options: RestoreOptions = RestoreOptions(),
            *, mask: ImageLike | np.ndarray | None = None, photo: PhotoOptions | None = None,
            helpers=None, **kwargs) -> RestoreResult:
    """Run the pipeline of the model's task: ``super_resolve``, ``inpaint`` (needs ``mask``) or
    ``restore_face`` (``photo``: a whole photo; ``helpers``: the owner of its face networks, e.g.
    a ModelManager, used by face models only). kwargs: the pipeline's keyword arguments."""
    task = model.spec.task
    if mask is not None and task != "inpaint":
        raise InvalidRequest(f"a mask is for inpainting; the model {model.spec.name} is {a_task_model(task)}")
    if photo is not None and task != "face":
        raise InvalidRequest(f"whole-photo settings are for face restoration; the model {model.spec.name} "
                             f"is {a_task_model(task)}")
    if task == "sr":
        return super_resolve(model, image, options, **kwargs)
    if task == "inpaint":
        if mask is None:
            raise InvalidMaskError("inpainting needs a mask: white (or 1) marks the pixels to repaint")
        return inpaint(model, image, mask, options, **kwargs)
    return restore_face(model, image, options, photo=photo, helpers=helpers, **kwargs)
