"""A corpus of bad and odd inputs, generated on demand into a folder (nothing binary is committed).

``image_corpus(folder)`` writes every image case and returns :class:`Case` records that say what
each file is and how the project must treat it; ``mask_corpus(folder, size)`` does the same for
inpainting masks of an image of ``size`` (width, height). The expected behaviour, decided once here
and asserted by tests/test_hardening_*.py:

=========================  ==================================================================
input                      behaviour
=========================  ==================================================================
truncated.png / .jpg       refused: "damaged or truncated"
empty.png (0 bytes)        refused: "empty (0 bytes)"
text.png (text renamed)    refused: "not an image this server can read"
bomb.png (20000x20000)     refused before decoding: library "too large to open safely";
                           studio names the task's pixel limit; CLI skips it
big.png (10000x10000)      readable by Pillow (inside its bomb guard) but over every task's
                           limit: studio and ``--max-pixels`` refuse it from the header, naming
                           the size and the limit, before decoding
pixel_1x1.png              works: SR gives 4x4; inpainting and aligned faces keep 1x1
line_1x37.png, 53x1        works (padding replicates): SR gives 4x148 and 212x4; an aligned
                           face refuses them (not square), whole-photo mode returns them
cmyk.jpg                   works, converted to RGB
grey16.png, rgb16.png      works, 16-bit scaled to [0, 1] (grey 0x8080 -> 0.5)
grey_alpha.png (LA)        works, alpha kept: RGBA result
palette_alpha.png          works, palette transparency kept as alpha: RGBA result
animated.gif / .webp       works on the first frame (red), not the second (blue)
exif_rotated.jpg           works on the image as displayed: stored 40x24, EXIF 6 -> 24x40
image.avif                 works (only where Pillow reads AVIF)
float.tif (mode F)         works, values in [0, 1] used as grey
=========================  ==================================================================

Masks (1 / white / opaque = repaint): empty -> refused "mask is empty"; full -> allowed, every pixel
repainted; wrong size -> refused naming both sizes; grey levels and soft (blurred) edges ->
thresholded at half (value >= 0.5, i.e. >= 128 of 255, is repainted).
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


def image_corpus(folder: Path, *, big: bool = True) -> list[Case]:
    """Write the image corpus into ``folder`` (created) and describe it. ``big=False`` leaves out
    the two huge headers (bomb.png, big.png) for callers that only want decodable files."""
    folder.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []

    def add(name: str, data: bytes, size, behaviour: str, **kw) -> None:
        path = folder / name
        path.write_bytes(data)
        cases.append(Case(name, path, size, behaviour, **kw))

    photo = Image.fromarray(texture(48, 40, seed=1))
    png, jpg = _encode(photo, "PNG"), _encode(photo, "JPEG", quality=90)
    add("truncated.png", png[: len(png) // 2], None, "refused: damaged or truncated",
        error="damaged or truncated")
    add("truncated.jpg", jpg[: len(jpg) // 2], None, "refused: damaged or truncated",
        error="damaged or truncated")
    add("empty.png", b"", None, "refused: empty (0 bytes)", error=r"empty \(0 bytes\)")
    add("text.png", b"name,value\nthis is,a text file renamed to .png\n", None,
        "refused: not an image", error="not an image this server can read")
    if big:
        add("bomb.png", bomb_png(BOMB_SIDE), None, "refused before decoding: too large",
            error="too large")
        add("big.png", bomb_png(BIG_SIDE), (BIG_SIDE, BIG_SIDE),
            "refused from the header by every pixel limit (size and limit named)")
    add("pixel_1x1.png", _encode(Image.new("RGB", (1, 1), RED), "PNG"), (1, 1),
        "works: SR 4x4, others 1x1", colour=tuple(c / 255 for c in RED))
    add("line_1x37.png", _encode(Image.fromarray(texture(1, 37, 2)), "PNG"), (1, 37),
        "works: SR 4x148; aligned face refuses (not square)")
    add("line_53x1.png", _encode(Image.fromarray(texture(53, 1, 3)), "PNG"), (53, 1),
        "works: SR 212x4; aligned face refuses (not square)")
    cmyk = Image.new("CMYK", (32, 24), (0, 255, 255, 0))  # pure red in CMYK
    add("cmyk.jpg", _encode(cmyk, "JPEG", quality=95), (32, 24), "works: CMYK converted to RGB",
        colour=(1.0, 0.0, 0.0))
    grey16 = Image.fromarray(np.full((24, 32), 0x8080, np.uint16))
    add("grey16.png", _encode(grey16, "PNG"), (32, 24), "works: 16-bit grey scaled to [0, 1]",
        colour=(0.502, 0.502, 0.502))
    add("rgb16.png", _rgb16_png(texture(32, 24, 4)), (32, 24), "works: 16-bit RGB")
    la = Image.fromarray(np.stack([texture(32, 24, 5)[..., 0], _alpha_ramp(32, 24)], axis=2), "LA")
    add("grey_alpha.png", _encode(la, "PNG"), (32, 24), "works: alpha kept (RGBA result)", alpha=True)
    add("palette_alpha.png", _encode(_palette_with_transparency(), "PNG"), (32, 24),
        "works: palette transparency kept (RGBA result)", alpha=True)
    add("animated.gif", _animated("GIF"), (24, 20), "works on the first frame (red)",
        colour=tuple(c / 255 for c in RED))
    add("animated.webp", _animated("WEBP"), (24, 20), "works on the first frame (red)",
        colour=tuple(c / 255 for c in RED))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    add("exif_rotated.jpg", _encode(Image.fromarray(texture(40, 24, 6)), "JPEG", exif=exif.tobytes()),
        (24, 40), "works on the displayed image: 40x24 stored, 24x40 used")
    if features.check("avif"):
        add("image.avif", _encode(Image.new("RGB", (32, 32), RED), "AVIF", quality=90), (32, 32),
            "works (Pillow reads AVIF here)", colour=tuple(c / 255 for c in RED))
    ramp = (np.arange(24 * 32, dtype=np.float32).reshape(24, 32) / (24 * 32 - 1))
    add("float.tif", _encode(Image.fromarray(ramp, "F"), "TIFF"), (32, 24),
        "works: float values in [0, 1] used as grey")
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


def mask_corpus(folder: Path, size: tuple[int, int]) -> list[MaskCase]:
    """Write inpainting masks for an image of ``size`` = (width, height) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    w, h = size
    cases: list[MaskCase] = []

    def add(name: str, plane: np.ndarray, repaint, behaviour: str, error: str | None = None) -> None:
        path = folder / name
        Image.fromarray(plane).save(path)
        cases.append(MaskCase(name, path, repaint, behaviour, error))

    empty = np.zeros((h, w), np.uint8)
    add("mask_empty.png", empty, None, "refused: the mask is empty", "mask is empty")
    add("mask_full.png", np.full((h, w), 255, np.uint8), np.ones((h, w), bool),
        "allowed: every pixel repainted")
    add("mask_wrong_size.png", np.full((h + 8, w + 8), 255, np.uint8), None,
        "refused: names both sizes", rf"{w + 8}x{h + 8} but the image is {w}x{h}")
    levels = np.zeros((h, w), np.uint8)  # four bands of grey: 0, 100, 128, 200
    for i, v in enumerate((0, 100, 128, 200)):
        levels[:, i * w // 4:(i + 1) * w // 4] = v
    add("mask_grey_levels.png", levels, levels >= 128, "thresholded at 0.5: 128 and 200 repainted")
    hard = np.zeros((h, w), np.uint8)
    hard[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = 255
    soft = np.asarray(Image.fromarray(hard).filter(ImageFilter.GaussianBlur(3)))
    add("mask_soft_edges.png", soft, soft >= 128, "thresholded at 0.5 (soft edges)")
    return cases
