"""Image decoding and conversion at the library's edge.

Everything inside the library works on float tensors in [-1, 1]. This module turns what users have
(PIL images of any mode, uint8/uint16/float numpy arrays, file paths) into RGB float images plus an
optional alpha channel, and back into 8-bit images.

Alpha policy: transparency is kept. The RGB planes are restored; the alpha plane is resized to the
output size (bicubic) and re-attached, so an RGBA input gives an RGBA output.
"""
from __future__ import annotations

import io
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import InvalidRequest

log = logging.getLogger(__name__)

# float arrays are images in [0, 1]; one reaching past this is 0-255 data and refused (slightly
# past 1 is rounding, and clipped)
FLOAT_RANGE_SLACK = 1.01

ImageLike = Union[Image.Image, np.ndarray, str, os.PathLike, bytes]


class InvalidImageError(InvalidRequest):
    """The input cannot be read as an image (corrupt, empty, unsupported or too large)."""


class ImageTooLargeError(InvalidImageError):
    """The image has more pixels than allowed. size: its (width, height), or None when Pillow's
    decompression-bomb guard refused it before its size could be used; limit: the pixel limit."""

    def __init__(self, message: str, size: tuple[int, int] | None, limit: int):
        super().__init__(message)
        self.size = size
        self.limit = limit


def parse_pixels(text: str, *, allow_zero: bool = False) -> int:
    """A pixel limit as people write it: '512x512' (or '512*512') -> 262144; '262144' -> 262144.
    Raises ValueError for anything else (and for 0, unless ``allow_zero``: 'no limit')."""
    clean = str(text).strip().lower().replace(" ", "")
    m = re.fullmatch(r"(\d+)[x*](\d+)", clean)
    try:
        value = int(m.group(1)) * int(m.group(2)) if m else int(clean)
    except ValueError:
        raise ValueError(f"expected WIDTHxHEIGHT or a pixel count, got {text!r}") from None
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"a pixel limit must be positive, got {text!r}")
    return value


def _pixel_count(n: int) -> str:
    return f"{n / 1e6:.1f} megapixels" if n >= 100_000 else f"{n:,} pixels"


def _too_large(size: tuple[int, int], max_pixels: int) -> ImageTooLargeError:
    w, h = size
    return ImageTooLargeError(
        f"the image is {w}x{h} = {_pixel_count(w * h)}; the limit here is {_pixel_count(max_pixels)}. "
        "Downscale or crop it and try again.", size, max_pixels)


@dataclass(frozen=True, eq=False)
class DecodedImage:
    """rgb: (H, W, 3) float32 in [0, 1]; alpha: (H, W) float32 in [0, 1] or None; icc_profile: the
    file's ICC colour profile when it is an RGB one (the pixels are kept in that colour space and
    the result carries it), else None; original_size: the (width, height) of an image downscaled
    to fit a pixel limit (``decode_image(fit_pixels=...)``), else None."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    icc_profile: bytes | None = None
    original_size: tuple[int, int] | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(width, height)."""
        return self.rgb.shape[1], self.rgb.shape[0]


# the first bytes of the formats whose signature cannot be mistaken (BMP's "BM" can)
_SIGNATURES = ((b"\xff\xd8", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
               (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))


def _signature(source: str | os.PathLike | bytes) -> str | None:
    """The image format a file's first bytes announce (None: none of ``_SIGNATURES``, or unreadable)."""
    try:
        if isinstance(source, bytes):
            head = source[:12]
        else:
            with open(source, "rb") as f:
                head = f.read(12)
    except OSError:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    return next((kind for magic, kind in _SIGNATURES if head.startswith(magic)), None)


def _open(source: str | os.PathLike | bytes, max_pixels: int | None = None,
          fit_pixels: int | None = None) -> Image.Image:
    """Open and decode a file; an image over ``max_pixels`` is refused from its header, before
    its pixels are decoded (Pillow's decompression-bomb guard refuses the absurd ones); one over
    ``fit_pixels`` is decoded at a reduced size where its format can (JPEG's draft mode)."""
    try:
        if isinstance(source, bytes):
            if not source:
                raise InvalidImageError("the file is empty (0 bytes)")
            img = Image.open(io.BytesIO(source))
        else:
            path = Path(source)
            if path.stat().st_size == 0:
                raise InvalidImageError(f"{path.name} is empty (0 bytes)")
            img = Image.open(path)
        if max_pixels is not None and img.size[0] * img.size[1] > max_pixels:
            raise _too_large(img.size, max_pixels)
        if fit_pixels is not None and img.size[0] * img.size[1] > fit_pixels and img.format == "JPEG":
            img.info["original_size"] = img.size
            img.draft(img.mode, fitted_size(img.size, fit_pixels))  # at least that size, decoded faster
        img.load()  # decode now, so truncated files fail here
        return img
    except InvalidImageError:
        raise
    except Image.DecompressionBombError as exc:
        guard = 2 * (Image.MAX_IMAGE_PIXELS or 0)  # Pillow refuses twice its warning threshold
        raise ImageTooLargeError(
            f"the image is too large to open safely: images over {guard / 1e6:.0f} megapixels are "
            "refused as possible decompression bombs", None, guard) from exc
    except UnidentifiedImageError as exc:
        kind = _signature(source)
        if kind is not None:  # an image file whose header is broken, not a file of another kind
            raise InvalidImageError(f"the file is a damaged or truncated {kind} image: it begins like one, "
                                    "but its header cannot be read") from exc
        raise InvalidImageError("the file is not an image this server can read "
                                "(supported: PNG, JPEG, WebP, BMP, TIFF, GIF)") from exc
    except FileNotFoundError as exc:
        raise InvalidImageError(f"no such file: {source}") from exc
    except IsADirectoryError as exc:
        raise InvalidImageError(f"{source} is a folder, not an image file") from exc
    except PermissionError as exc:
        raise InvalidImageError(f"{source} cannot be read (permission denied)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InvalidImageError(f"the image file is damaged or truncated ({exc})") from exc


def rgb_profile(img: Image.Image) -> bytes | None:
    """The image's ICC profile when it describes RGB data (bytes 16-19 of its header: the colour
    space 'RGB '), else None: a grey or CMYK profile does not fit the RGB pixels made from it."""
    profile = img.info.get("icc_profile")
    if isinstance(profile, bytes) and len(profile) >= 128 and profile[16:20] == b"RGB " and \
            img.mode in ("RGB", "RGBA", "RGBX", "P", "PA"):
        return profile
    return None


def fitted_size(size: tuple[int, int], max_pixels: int) -> tuple[int, int]:
    """(width, height) scaled down, aspect kept, to at most ``max_pixels`` (unchanged within it)."""
    w, h = size
    if w * h <= max_pixels:
        return w, h
    f = (max_pixels / (w * h)) ** 0.5
    fw, fh = max(1, int(w * f)), max(1, int(h * f))
    while fw * fh > max_pixels:  # rounding
        fw, fh = max(1, fw - 1), max(1, round(h * (fw - 1) / w))
    return fw, fh


def _fit_pil(img: Image.Image, max_pixels: int) -> Image.Image:
    """``img`` downscaled (Lanczos, antialiased) to at most ``max_pixels``."""
    size = fitted_size(img.size, max_pixels)
    if size == img.size:
        return img
    if img.mode not in ("RGB", "RGBA", "L", "LA", "I", "F", "I;16"):
        img = img.convert("RGBA" if img.mode in ("PA", "La", "RGBa") or "transparency" in img.info else "RGB")
    return img.resize(size, Image.LANCZOS, reducing_gap=3.0)


def _from_pil(img: Image.Image, fit_pixels: int | None = None,
              original_size: tuple[int, int] | None = None) -> DecodedImage:
    if getattr(img, "is_animated", False):
        img.seek(0)  # animated GIF/WebP/PNG: the first frame
    profile = rgb_profile(img)
    try:
        img = ImageOps.exif_transpose(img)
    except Exception as exc:  # a broken EXIF block must not make the image unreadable
        log.warning("ignoring unreadable EXIF orientation: %s", exc)
    original = original_size or img.size
    if (original[0] > original[1]) != (img.size[0] > img.size[1]):  # turned by its EXIF orientation
        original = (original[1], original[0])
    if fit_pixels is not None and original[0] * original[1] > fit_pixels:
        img = _fit_pil(img, fit_pixels)
        decoded = _from_pil(img)
        return DecodedImage(decoded.rgb, decoded.alpha, profile, original)
    decoded = _pil_pixels(img)
    return DecodedImage(decoded.rgb, decoded.alpha, profile) if profile else decoded


def _pil_pixels(img: Image.Image) -> DecodedImage:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        grey = np.clip(arr / peak, 0, 1).astype(np.float32)
        return DecodedImage(np.repeat(grey[..., None], 3, axis=2), None)
    if mode == "F":
        arr = np.nan_to_num(np.asarray(img, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
        hi = float(arr.max()) if arr.size else 1.0
        grey = np.clip(arr / (hi if hi > 1.0 else 1.0), 0, 1)
        return DecodedImage(np.repeat(grey[..., None], 3, axis=2), None)
    if mode == "La":  # premultiplied alpha: Pillow converts it to LA only
        img, mode = img.convert("LA"), "LA"
    has_alpha = mode in ("RGBA", "RGBa", "LA", "PA") or (mode == "P" and "transparency" in img.info) or \
        (mode in ("RGB", "L") and "transparency" in img.info)
    if has_alpha:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        return DecodedImage(np.ascontiguousarray(rgba[..., :3]), np.ascontiguousarray(rgba[..., 3]))
    rgb = np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0  # CMYK, YCbCr, L, P, 1 ...
    return DecodedImage(rgb, None)


def _from_array(arr: np.ndarray) -> DecodedImage:
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4) or 0 in arr.shape:
        raise InvalidImageError(f"an image array must be (H, W), (H, W, 1|2|3|4); got shape {arr.shape}")
    if arr.dtype == np.uint8:
        f = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        f = arr.astype(np.float32) / 65535.0
    elif np.issubdtype(arr.dtype, np.floating):
        f = np.nan_to_num(arr.astype(np.float32))
        if f.max() > FLOAT_RANGE_SLACK:
            raise InvalidImageError(
                f"a float image array must hold values in [0, 1], but this one reaches {f.max():g}; "
                "for 0-255 data pass uint8 (arr.astype(np.uint8)) or divide by 255")
        f = np.clip(f, 0, 1)
    elif arr.dtype == np.bool_:
        f = arr.astype(np.float32)
    else:
        raise InvalidImageError(f"unsupported image array dtype {arr.dtype} (use uint8, uint16 or float)")
    c = f.shape[2]
    rgb = np.repeat(f[..., :1], 3, axis=2) if c in (1, 2) else f[..., :3]
    alpha = f[..., -1] if c in (2, 4) else None
    return DecodedImage(np.ascontiguousarray(rgb), None if alpha is None else np.ascontiguousarray(alpha))


def fit_decoded(img: DecodedImage, max_pixels: int) -> DecodedImage:
    """A decoded image downscaled to at most ``max_pixels`` (its ``original_size`` set); one within
    the limit as it is."""
    size = fitted_size(img.size, max_pixels)
    if size == img.size:
        return img

    def plane(p: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(p.astype(np.float32), mode="F").resize(size, Image.LANCZOS),
                          dtype=np.float32)

    rgb = np.clip(np.stack([plane(img.rgb[..., c]) for c in range(3)], axis=2), 0, 1)
    alpha = None if img.alpha is None else np.clip(plane(img.alpha), 0, 1)
    return DecodedImage(rgb, alpha, img.icc_profile, img.original_size or img.size)


def decode_image(source: ImageLike, *, max_pixels: int | None = None,
                 fit_pixels: int | None = None) -> DecodedImage:
    """Read any supported input into RGB in [0, 1] plus optional alpha.

    EXIF orientation is applied; greyscale, palette, CMYK, 16-bit and float images become RGB; the
    first frame of an animation is used. Arrays: uint8 (0-255), uint16 (0-65535), bool, or float in
    [0, 1] (a float array past 1 is refused, not clipped to white). Raises InvalidImageError with a
    human sentence (ImageTooLargeError over ``max_pixels``: files are refused from their header,
    undecoded). ``fit_pixels``: an image over it is downscaled (Lanczos) to fit, its
    ``original_size`` set, instead of refused (``max_pixels`` still refuses). A file's RGB colour
    profile is kept in ``icc_profile``.
    """
    if isinstance(source, np.ndarray):
        out = _from_array(source)
        if fit_pixels is not None:
            out = fit_decoded(out, fit_pixels)
    elif isinstance(source, Image.Image):
        out = _from_pil(source, fit_pixels)
    elif isinstance(source, (str, os.PathLike, bytes)):
        img = _open(source, max_pixels, fit_pixels)
        out = _from_pil(img, fit_pixels, img.info.get("original_size"))
    else:
        raise InvalidImageError(f"cannot read an image from {type(source).__name__}")
    w, h = out.size
    if w < 1 or h < 1:
        raise InvalidImageError("the image has no pixels")
    if max_pixels is not None and w * h > max_pixels:  # arrays and PIL images (files: in _open)
        raise _too_large((w, h), max_pixels)
    return out


def to_model_input(rgb: np.ndarray) -> torch.Tensor:
    """(H, W, 3) float in [0, 1] -> (1, 3, H, W) float32 in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None].float() * 2 - 1


def from_model_output(x: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) in about [-1, 1] -> (H, W, 3) uint8 (clamped, rounded)."""
    return batch_from_model_output(x[:1])[0]


def batch_to_model_input(images: np.ndarray, device: torch.device | str | None = None) -> torch.Tensor:
    """(N, H, W, 3) uint8 -> (N, 3, H, W) float32 in [-1, 1] on ``device``, by the arithmetic an
    image file is read with (x / 255 * 2 - 1): a frame or a face crop gives the numbers its file would."""
    x = torch.from_numpy(np.ascontiguousarray(images))
    if device is not None:
        x = x.to(device)
    return x.permute(0, 3, 1, 2).float().contiguous() / 255.0 * 2 - 1


def batch_from_model_output(x: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) in about [-1, 1] -> (N, H, W, 3) uint8 (clamped, rounded)."""
    x = ((x.float().clamp(-1, 1) + 1) * 127.5).round()
    return x.permute(0, 2, 3, 1).to(torch.uint8).cpu().numpy()


def to_uint8(rgb: np.ndarray, alpha: np.ndarray | None = None) -> np.ndarray:
    """float [0, 1] planes (H, W[, C]) -> uint8 0-255; with ``alpha`` (H, W), RGBA."""
    planes = rgb if alpha is None else np.concatenate([rgb, alpha[..., None]], axis=2)
    return (np.clip(planes, 0, 1) * 255.0).round().astype(np.uint8)


def resize_plane(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bicubic resize of a float (H, W) plane in [0, 1] to (width, height)."""
    img = Image.fromarray(plane.astype(np.float32), mode="F")
    return np.clip(np.asarray(img.resize(size, Image.BICUBIC), dtype=np.float32), 0, 1)


def attach_alpha(rgb_u8: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Re-attach a [0, 1] alpha plane (resized to the RGB size when needed) -> RGBA uint8."""
    if alpha is None:
        return rgb_u8
    h, w = rgb_u8.shape[:2]
    if alpha.shape != (h, w):
        alpha = resize_plane(alpha, (w, h))
    return np.concatenate([rgb_u8, to_uint8(alpha)[..., None]], axis=2)
