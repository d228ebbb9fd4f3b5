"""A corpus of bad and odd inputs, generated on demand into a folder (nothing binary is committed).

``image_corpus(folder)`` writes the image cases and returns :class:`Case` records saying what each
file is and how the project must treat it; ``mask_corpus(folder, size)`` does the same for
inpainting masks of an image of ``size`` (width, height). The expected behaviour, decided here and
asserted by tests/test_hardening_*.py (library pipelines, CLI, studio handlers, HTTP endpoints):

=====================  ==========================================================================
input                  behaviour
=====================  ==========================================================================
truncated.png / .jpg   refused: "damaged or truncated"
empty.png (0 bytes)    refused: "empty (0 bytes)"
text.png               a text file renamed .png; refused: "not an image this server can read"
bomb.png               a valid 20000x20000 1-bit PNG of 49 kB: Pillow's decompression-bomb guard
                       refuses it before decoding ("too large to open safely"); the studio also
                       names the task's pixel limit
big.png                a valid 10000x10000 PNG (12 kB), inside Pillow's guard: every pixel limit
                       (studio, ``max_pixels=``, CLI ``--max-pixels``) refuses it from the header,
                       undecoded, naming its size and the limit
pixel_1x1.png          works: SR gives 4x4; inpainting, aligned and whole-photo faces give 1x1
line_1x37.png, 53x1    works (padding replicates the edge): SR gives 4x148 and 212x4; an aligned
                       face refuses them ("must be square"); whole-photo mode returns them as is
cmyk.jpg               works: CMYK converted to RGB (pure red stays red)
grey16.png, rgb16.png  works: 16 bits scaled to [0, 1] (grey 0x8080 -> 0.502)
grey_alpha.png         works: alpha kept, the result is RGBA
palette_alpha.png      works: palette transparency becomes alpha, the result is RGBA
animated.gif / .webp   works on the first frame (red), not the second (blue)
exif_rotated.jpg       works on the image as displayed: stored 40x24 with EXIF orientation 6 -> 24x40
image.avif             works (only where this Pillow reads AVIF; HEIC is not readable here, the CLI
                       and the studio report such a file as "not an image this server can read")
float.tif              works: float values in [0, 1] used as grey
=====================  ==========================================================================

Masks (1 / white / opaque = repaint): empty -> refused (nothing to repaint); full -> allowed, every
pixel repainted; wrong size -> refused naming both sizes; a 10000x10000 mask -> refused the same
way from its header, undecoded; not an image -> "the mask cannot be read"; grey levels and soft
(blurred) edges -> thresholded at 0.5: a value >= 128 of 255 is repainted.
"""
from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, features

RED, BLUE = (230, 20, 20), (20, 20, 230)
BOMB_SIDE = 20000
BIG_SIDE = 10000  # 1e8 pixels: over Pillow's warning threshold, under its error threshold


@dataclass(frozen=True)
class Case:
    """One corpus file. size: (width, height) once decoded (EXIF applied), None when unreadable;
    error: a regex the refusal's message matches; colour: the decoded mean RGB (0..1), if known."""

    name: str
    path: Path
    size: tuple[int, int] | None
    behaviour: str
    error: str | None = None
    alpha: bool = False
    colour: tuple[float, float, float] | None = None

    @property
    def readable(self) -> bool:
        return self.size is not None

    @property
    def square(self) -> bool:
        return self.size is not None and self.size[0] == self.size[1]

    def __str__(self) -> str:  # readable pytest ids
        return self.name


@dataclass(frozen=True)
class MaskCase:
    """One mask file for an image of the corpus' mask size. repaint: the (H, W) bool mask the
    pipelines must use (None when the mask is refused); error: a regex of the refusal."""

    name: str
    path: Path
    repaint: np.ndarray | None
    behaviour: str
    error: str | None = None

    def __str__(self) -> str:
        return self.name


def texture(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A deterministic textured RGB image: (height, width, 3) uint8 (gradients plus noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([xx / max(width - 1, 1), yy / max(height - 1, 1),
                     0.5 + 0.5 * np.sin((xx + yy) / 3.0)], axis=2) * 200 + 20
    noise = rng.normal(0, 12, size=(height, width, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def _encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(side: int = BOMB_SIDE) -> bytes:
    """A valid, all-black 1-bit greyscale PNG of side x side pixels, built without allocating it:
    the zero rows compress to about 1/1000 of their size (~50 kB for 20000x20000)."""
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    rows_per_chunk = max(1, (1 << 20) // len(row))
    parts = []
    for start in range(0, side, rows_per_chunk):
        parts.append(packer.compress(row * min(rows_per_chunk, side - start)))
    parts.append(packer.flush())
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit greyscale, no interlace
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", b"".join(parts))
            + _png_chunk(b"IEND", b""))


def _animated(fmt: str) -> bytes:
    frames = [Image.new("RGB", (24, 20), RED), Image.new("RGB", (24, 20), BLUE)]
    extra = {"loop": 0, "duration": 100}
    if fmt == "WEBP":
        extra["lossless"] = True
    return _encode(frames[0], fmt, save_all=True, append_images=frames[1:], **extra)


def _photo_bytes(fmt: str, **kwargs) -> bytes:
    return _encode(Image.fromarray(texture(48, 40, seed=1)), fmt, **kwargs)


def _cut(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    return _encode(Image.fromarray(texture(40, 24, 6)), "JPEG", exif=exif.tobytes())


def _float_tiff() -> bytes:
    ramp = np.arange(24 * 32, dtype=np.float32).reshape(24, 32) / (24 * 32 - 1)
    return _encode(Image.fromarray(ramp, "F"), "TIFF")


def _grey_alpha() -> bytes:
    la = np.stack([texture(32, 24, 5)[..., 0], _alpha_ramp(32, 24)], axis=2)
    return _encode(Image.fromarray(la, "LA"), "PNG")


_RED = tuple(c / 255 for c in RED)
# name -> (bytes builder, decoded size or None, behaviour, extra Case fields)
_IMAGES = {
    "truncated.png": (lambda: _cut(_photo_bytes("PNG")), None, "refused: damaged or truncated",
                      {"error": "damaged or truncated"}),
    "truncated.jpg": (lambda: _cut(_photo_bytes("JPEG", quality=90)), None, "refused: damaged or truncated",
                      {"error": "damaged or truncated"}),
    "empty.png": (lambda: b"", None, "refused: empty (0 bytes)", {"error": r"empty \(0 bytes\)"}),
    "text.png": (lambda: b"name,value\nthis is,a text file renamed to .png\n", None, "refused: not an image",
                 {"error": "not an image this server can read"}),
    "bomb.png": (lambda: bomb_png(BOMB_SIDE), None, "refused before decoding: too large",
                 {"error": "too large to open safely"}),
    "big.png": (lambda: bomb_png(BIG_SIDE), (BIG_SIDE, BIG_SIDE),
                "refused from its header by any pixel limit (size and limit named)", {}),
    "pixel_1x1.png": (lambda: _encode(Image.new("RGB", (1, 1), RED), "PNG"), (1, 1),
                      "works: SR 4x4, the others 1x1", {"colour": _RED}),
    "line_1x37.png": (lambda: _encode(Image.fromarray(texture(1, 37, 2)), "PNG"), (1, 37),
                      "works: SR 4x148; an aligned face refuses it (not square)", {}),
    "line_53x1.png": (lambda: _encode(Image.fromarray(texture(53, 1, 3)), "PNG"), (53, 1),
                      "works: SR 212x4; an aligned face refuses it (not square)", {}),
    "cmyk.jpg": (lambda: _encode(Image.new("CMYK", (32, 24), (0, 255, 255, 0)), "JPEG", quality=95), (32, 24),
                 "works: CMYK converted to RGB (pure red)", {"colour": (1.0, 0.0, 0.0)}),
    "grey16.png": (lambda: _encode(Image.fromarray(np.full((24, 32), 0x8080, np.uint16)), "PNG"), (32, 24),
                   "works: 16-bit grey scaled to [0, 1]", {"colour": (0.502, 0.502, 0.502)}),
    "rgb16.png": (lambda: _rgb16_png(texture(32, 24, 4)), (32, 24), "works: 16-bit RGB scaled to [0, 1]",
                  {"colour": tuple(texture(32, 24, 4).reshape(-1, 3).mean(0) / 255)}),
    "grey_alpha.png": (_grey_alpha, (32, 24), "works: alpha kept (RGBA result)", {"alpha": True}),
    "palette_alpha.png": (lambda: _encode(_palette_with_transparency(), "PNG"), (32, 24),
                          "works: palette transparency kept (RGBA result)", {"alpha": True}),
    "animated.gif": (lambda: _animated("GIF"), (24, 20), "works on the first frame (red)", {"colour": _RED}),
    "animated.webp": (lambda: _animated("WEBP"), (24, 20), "works on the first frame (red)", {"colour": _RED}),
    "exif_rotated.jpg": (_exif_rotated, (24, 40), "works on the displayed image: 40x24 stored, 24x40 used", {}),
    "image.avif": (lambda: _encode(Image.new("RGB", (32, 32), RED), "AVIF", quality=90), (32, 32),
                   "works (Pillow reads AVIF here)", {"colour": _RED}),
    "float.tif": (_float_tiff, (32, 24), "works: float values in [0, 1] used as grey",
                  {"colour": (0.5, 0.5, 0.5)}),
}
if not features.check("avif"):  # HEIC/AVIF only where this Pillow reads them (HEIC never does here)
    del _IMAGES["image.avif"]

IMAGE_NAMES: tuple[str, ...] = tuple(_IMAGES)
HUGE = ("bomb.png", "big.png")


def image_corpus(folder: Path, names: tuple[str, ...] | list[str] = IMAGE_NAMES) -> dict[str, Case]:
    """Write the image cases ``names`` (default: all) into ``folder`` (created) -> {name: Case}."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = {}
    for name in names:
        build, size, behaviour, extra = _IMAGES[name]
        path = folder / name
        path.write_bytes(build())
        cases[name] = Case(name, path, size, behaviour, **extra)
    return cases


def _rgb16_png(rgb8: np.ndarray) -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one; OpenCV can)."""
    import cv2

    ok, data = cv2.imencode(".png", (rgb8[..., ::-1].astype(np.uint16) * 257))
    assert ok
    return data.tobytes()


def _alpha_ramp(width: int, height: int) -> np.ndarray:
    return np.tile(np.linspace(0, 255, width).round().astype(np.uint8), (height, 1))


def _palette_with_transparency() -> Image.Image:
    img = Image.new("P", (32, 24), 1)
    img.putpalette([0, 0, 0] + list(RED) + list(BLUE) + [0] * (256 * 3 - 9))
    img.paste(2, (0, 0, 16, 24))
    img.paste(0, (0, 0, 8, 8))  # a transparent corner
    img.info["transparency"] = 0
    return img


MASK_NAMES = ("mask_empty.png", "mask_full.png", "mask_wrong_size.png", "mask_huge.png", "mask_text.png",
              "mask_grey_levels.png", "mask_soft_edges.png")


def mask_corpus(folder: Path, size: tuple[int, int]) -> dict[str, MaskCase]:
    """Write the inpainting masks for an image of ``size`` = (width, height) into ``folder``
    -> {name: MaskCase} (see MASK_NAMES)."""
    folder.mkdir(parents=True, exist_ok=True)
    w, h = size
    cases: dict[str, MaskCase] = {}

    def add(name: str, data: np.ndarray | bytes, repaint, behaviour: str, error: str | None = None) -> None:
        path = folder / name
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            Image.fromarray(data).save(path)
        cases[name] = MaskCase(name, path, repaint, behaviour, error)

    add("mask_empty.png", np.zeros((h, w), np.uint8), None, "refused: nothing to repaint",
        "mask is empty|Nothing to repaint")
    add("mask_full.png", np.full((h, w), 255, np.uint8), np.ones((h, w), bool),
        "allowed: every pixel repainted")
    add("mask_wrong_size.png", np.full((h + 8, w + 8), 255, np.uint8), None,
        "refused, naming both sizes", rf"{w + 8}x{h + 8} but the image is {w}x{h}")
    add("mask_huge.png", bomb_png(BIG_SIDE), None, "refused from its header, naming both sizes",
        rf"{BIG_SIDE}x{BIG_SIDE} but the image is {w}x{h}")
    add("mask_text.png", b"not a mask", None, "refused: the mask cannot be read",
        "mask cannot be read: .*not an image")
    levels = np.zeros((h, w), np.uint8)  # four bands of grey: 0, 100, 128, 200
    for i, v in enumerate((0, 100, 128, 200)):
        levels[:, i * w // 4:(i + 1) * w // 4] = v
    add("mask_grey_levels.png", levels, levels >= 128, "thresholded at 0.5: 128 and 200 repainted")
    hard = np.zeros((h, w), np.uint8)
    hard[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 255
    soft = np.asarray(Image.fromarray(hard).filter(ImageFilter.GaussianBlur(3)))
    add("mask_soft_edges.png", soft, soft >= 128, "thresholded at 0.5 (soft edges)")
    assert tuple(cases) == MASK_NAMES
    return cases
