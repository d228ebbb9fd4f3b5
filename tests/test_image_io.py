"""Decoding odd, corrupt and oversized inputs gives RGB in [0, 1] or a clear InvalidImageError."""
import io

import numpy as np
import pytest
from PIL import Image

from resshift.media.image import InvalidImageError, attach_alpha, decode_image

from tests.helpers import DATA

REAL = DATA / "images" / "realsr_canon006_crop.png"


def _png_bytes(img: Image.Image, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_modes_become_rgb():
    base = Image.open(REAL).convert("RGB")
    for mode in ("L", "P", "CMYK", "YCbCr", "1", "I;16", "F", "LA", "RGBA", "PA"):
        src = base.convert(mode) if mode not in ("I;16", "PA") else (
            Image.fromarray((np.asarray(base.convert("L"), np.uint16) * 257)) if mode == "I;16"
            else base.convert("P").convert("PA"))
        d = decode_image(src)
        assert d.rgb.shape == (80, 96, 3) and d.rgb.dtype == np.float32, mode
        assert 0 <= d.rgb.min() and d.rgb.max() <= 1, mode
        assert (d.alpha is not None) == (mode in ("LA", "RGBA", "PA")), mode


def test_sixteen_bit_png_scaled_to_unit_range():
    arr = np.full((4, 5), 65535, np.uint16)
    arr[0, 0] = 0
    d = decode_image(_png_bytes(Image.fromarray(arr)))
    assert d.rgb.max() == pytest.approx(1.0) and d.rgb.min() == 0.0


def test_exif_orientation_applied():
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    d = decode_image(_png_bytes(img, "JPEG", exif=exif.tobytes()))
    assert d.size == (20, 40)


def test_palette_transparency_kept():
    img = Image.new("P", (8, 8), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.paste(1, (0, 0, 4, 8))
    img.info["transparency"] = 0
    d = decode_image(_png_bytes(img))
    assert d.alpha is not None and d.alpha[:, :4].min() == 1.0 and d.alpha[:, 4:].max() == 0.0


def test_animated_gif_first_frame():
    frames = [Image.new("RGB", (10, 10), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    d = decode_image(buf.getvalue())
    assert d.rgb[..., 0].mean() > 0.9 and d.rgb[..., 2].mean() < 0.1


@pytest.mark.parametrize("data,message", [
    (b"", "empty"),
    (b"this is not an image at all", "not an image"),
])
def test_bad_bytes(data, message):
    with pytest.raises(InvalidImageError, match=message):
        decode_image(data)


def test_truncated_files(tmp_path):
    raw = _png_bytes(Image.open(REAL))
    jpg = _png_bytes(Image.open(REAL).convert("RGB"), "JPEG")
    for name, blob in (("t.png", raw[: len(raw) // 2]), ("t.jpg", jpg[: len(jpg) // 3])):
        p = tmp_path / name
        p.write_bytes(blob)
        with pytest.raises(InvalidImageError, match="damaged|truncated"):
            decode_image(p)


def test_pixel_limit_message():
    with pytest.raises(InvalidImageError, match=r"96x80 = 7,680 pixels; the limit here is 5,000 pixels"):
        decode_image(REAL, max_pixels=5000)


def test_decompression_bomb_refused(tmp_path):
    # a 20000x20000 PNG is far beyond Pillow's bomb guard (which stays on); built without allocating it
    from tests.corpus import bomb_png

    p = tmp_path / "bomb.png"
    p.write_bytes(bomb_png(20000))
    with pytest.raises(InvalidImageError, match="too large"):
        decode_image(p)


def test_arrays_and_alpha_attach():
    d = decode_image(np.zeros((3, 4, 2), np.uint8))
    assert d.rgb.shape == (3, 4, 3) and d.alpha is not None
    with pytest.raises(InvalidImageError, match="shape"):
        decode_image(np.zeros((3, 4, 5), np.uint8))
    rgba = attach_alpha(np.zeros((6, 8, 3), np.uint8), np.ones((3, 4), np.float32))
    assert rgba.shape == (6, 8, 4) and rgba[..., 3].min() == 255


def test_float_arrays_must_be_unit_range():
    ramp = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    assert np.allclose(decode_image(ramp).rgb[..., 0], ramp)
    assert decode_image(np.full((2, 2, 3), 1.005)).rgb.max() == 1.0  # rounding past 1 is clipped
    photo = np.asarray(Image.open(REAL).convert("RGB")).astype(np.float32)  # 0-255 data as float
    with pytest.raises(InvalidImageError, match=r"\[0, 1\].*reaches 186.*uint8"):
        decode_image(photo)


def test_premultiplied_alpha_modes():
    base = Image.open(REAL).convert("RGBA")
    for mode in ("RGBa", "La"):
        d = decode_image(base.convert(mode) if mode == "RGBa" else base.convert("LA").convert("La"))
        assert d.rgb.shape == (80, 96, 3) and d.alpha is not None, mode


def test_missing_file_and_folder_named(tmp_path):
    with pytest.raises(InvalidImageError, match="no such file: .*nothing.png"):
        decode_image(tmp_path / "nothing.png")
    with pytest.raises(InvalidImageError, match="is a folder"):
        decode_image(tmp_path)
