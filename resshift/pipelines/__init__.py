"""Task pipelines: images in, images out. See tasks.py; tiling, padding and I/O live beside it."""
from .image_io import DecodedImage, ImageTooLargeError, InvalidImageError, decode_image
from .options import ProgressEvent, RestoreOptions, RestoreResult
from .tasks import InvalidMaskError, decode_mask, inpaint, restore_face, restore_face_batch, super_resolve
from .tiling import tiled

__all__ = [
    "super_resolve", "inpaint", "restore_face", "restore_face_batch", "RestoreOptions", "RestoreResult",
    "ProgressEvent", "decode_image", "decode_mask", "DecodedImage", "InvalidImageError",
    "ImageTooLargeError", "InvalidMaskError", "tiled",
]
