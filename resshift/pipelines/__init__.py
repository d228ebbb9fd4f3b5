"""Task pipelines: images in, one RestoreResult out. tasks.py (super-resolution, inpainting),
faces.py (aligned faces, whole photos), registry.py (the tasks; ``restore``: any task, by the
model's), request.py (one request, ``execute``); the request's options (options.py), tiling and the
shared restoration path (restore.py) beside them."""
from ..media.image import DecodedImage, ImageTooLargeError, InvalidImageError, decode_image
from ..runtime.progress import CancelToken, Cancelled, ProgressEvent, RequestTimeout
from .result import RestoreResult
from .faces import restore_face, restore_face_batch
from .options import KAPPA_RANGE, PhotoOptions, RestoreOptions, check_task
from .tasks import InvalidMaskError, decode_mask, inpaint, super_resolve
from .tiling import tiled

__all__ = [
    "super_resolve", "inpaint", "restore_face", "restore_face_batch", "check_task",
    "RestoreOptions", "PhotoOptions", "RestoreResult", "KAPPA_RANGE", "ProgressEvent", "CancelToken",
    "Cancelled", "RequestTimeout", "decode_image", "decode_mask", "DecodedImage", "InvalidImageError",
    "ImageTooLargeError", "InvalidMaskError", "tiled",
]
