"""Task pipelines: images in, one RestoreResult out. See tasks.py (``tasks.restore`` runs any of
them by the model's task); options, tiling and the shared restoration path (restore.py) beside it."""
from ..image_io import DecodedImage, ImageTooLargeError, InvalidImageError, decode_image
from ..progress import CancelToken, Cancelled, ProgressEvent, RequestTimeout
from ..result import RestoreResult
from .options import KAPPA_RANGE, PhotoOptions, RestoreOptions
from .tasks import InvalidMaskError, check_task, decode_mask, inpaint, restore_face, restore_face_batch, super_resolve
from .tiling import tiled

__all__ = [
    "super_resolve", "inpaint", "restore_face", "restore_face_batch", "check_task",
    "RestoreOptions", "PhotoOptions", "RestoreResult", "KAPPA_RANGE", "ProgressEvent", "CancelToken",
    "Cancelled", "RequestTimeout", "decode_image", "decode_mask", "DecodedImage", "InvalidImageError",
    "ImageTooLargeError", "InvalidMaskError", "tiled",
]
