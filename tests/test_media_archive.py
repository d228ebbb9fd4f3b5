"""resshift.media.archive: reading a zip of images safely (limits from declared sizes, zip bombs,
unsafe names, lying headers) and writing a zip of results with its manifest."""
from __future__ import annotations

import io
import json
import struct
import zipfile

import numpy as np
import pytest
from PIL import Image

from resshift.media import InvalidArchiveError, InvalidMediaError, read_zip, write_zip

LIMITS = dict(max_files=10, max_total_bytes=50 << 20, max_ratio=100)


def _png(value: int, size: int = 24) -> bytes:
    rng = np.random.default_rng(value)  # noise: a PNG that barely compresses, like a photo
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _zip(entries: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, data in entries.items():
            if name.endswith("/"):
                zf.writestr(zipfile.ZipInfo(name), b"")
            else:
                zf.writestr(name, data)
    return buf.getvalue()


def test_nested_images_are_flattened_and_the_rest_skipped_with_reasons(tmp_path):
    a, b, c, d = _png(1), _png(2), _png(3), _png(4)
    data = _zip({
        "album/": b"",
        "album/2019/": b"",
        "album/2019/beach.png": a,
        "album/2020/Beach.PNG": b,
        "album_2019_beach.png": c,  # collides with the flattened first name
        "top.jpg": d,
        "album/notes.txt": b"hello",
        "__MACOSX/album/._beach.png": b"junk",
        "album/.DS_Store": b"junk",
        "Thumbs.db": b"junk",
    })
    path = tmp_path / "photos.zip"
    path.write_bytes(data)
    for source in (path, data):
        got = read_zip(source, **LIMITS)
        assert [(e.name, e.original) for e in got.entries] == [
            ("album_2019_beach.png", "album/2019/beach.png"),
            ("album_2020_Beach.PNG", "album/2020/Beach.PNG"),
            ("album_2019_beach-2.png", "album_2019_beach.png"),
            ("top.jpg", "top.jpg"),
        ]
        assert [e.data for e in got.entries] == [a, b, c, d]
        assert {s.name: s.reason for s in got.skipped} == {
            "album/": "a folder",
            "album/2019/": "a folder",
            "album/notes.txt": "not an image (.txt)",
            "__MACOSX/album/._beach.png": "a system folder's file (__MACOSX)",
            "album/.DS_Store": "a hidden or system file",
            "Thumbs.db": "a hidden or system file",
        }


def test_unsafe_names_are_skipped_and_never_reach_the_output_names():
    data = _zip({"../evil.png": _png(1), "/etc/abs.png": _png(2), "C:/win.png": _png(3),
                 "a\\..\\..\\back.png": _png(4), "ok?.png": _png(5)})
    got = read_zip(data, **LIMITS)
    assert [e.name for e in got.entries] == ["ok_.png"]
    reasons = {s.name: s.reason for s in got.skipped}
    assert set(reasons) == {"../evil.png", "/etc/abs.png", "C:/win.png", "a\\..\\..\\back.png"}
    assert set(reasons.values()) == {
        "an unsafe name (an absolute path or '..'): the archive may be malicious"}


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """300 MiB of zeros deflated to a few hundred KiB, named like an image."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("bomb.png", "w", force_zip64=True) as f:
            zeros = bytes(1 << 20)
            for _ in range(300):
                f.write(zeros)
        zf.writestr("fine.png", _png(1))
    return buf.getvalue()


def _damage_data(data: bytes, name: bytes) -> bytes:
    """The archive with the middle of ``name``'s compressed data overwritten (headers intact)."""
    start = data.index(b"PK\x03\x04")  # the first local header
    assert data[start + 30:start + 30 + len(name)] == name
    name_len, extra_len = struct.unpack_from("<HH", data, start + 26)
    mid = start + 30 + name_len + extra_len + 1000
    return data[:mid] + bytes(range(256)) * 4 + data[mid + 1024:]


def test_zip_bomb_is_refused_from_declared_sizes_without_extracting(bomb):
    assert len(bomb) < 1 << 20
    # its data damaged: had it been decompressed, the error would be about damage, not its ratio
    damaged = _damage_data(bomb, b"bomb.png")
    for data in (bomb, damaged):
        with pytest.raises(InvalidArchiveError, match=r"^the archive is refused: bomb\.png would "
                                                      r"expand from 0\.\d MiB to 300\.0 MiB \([\d,]+ "
                                                      r"times; the limit is 100\), which is how zip "
                                                      r"bombs are made$"):
            read_zip(data, **LIMITS)


def _patch_declared_size(data: bytes, name: bytes, size: int) -> bytes:
    """Rewrite the uncompressed size of ``name`` in its local header and central directory."""
    out = bytearray(data)
    local = out.index(b"PK\x03\x04")
    assert out[local + 30:local + 30 + len(name)] == name
    struct.pack_into("<I", out, local + 22, size)
    central = out.index(b"PK\x01\x02")
    assert out[central + 46:central + 46 + len(name)] == name
    struct.pack_into("<I", out, central + 24, size)
    return bytes(out)


def test_an_entry_that_lies_about_its_size_is_stopped_while_extracting():
    image = _png(7, size=64)
    data = _zip({"liar.png": image})
    smaller = _patch_declared_size(data, b"liar.png", 100)  # holds more than it declares
    with pytest.raises(InvalidArchiveError, match=r"^liar\.png in the archive is damaged or its "
                                                  r"declared size is false"):
        read_zip(smaller, **LIMITS)
    larger = _patch_declared_size(data, b"liar.png", len(image) + 5000)
    with pytest.raises(InvalidArchiveError, match=rf"^liar\.png in the archive holds {len(image):,} "
                                                  rf"bytes, less than the {len(image) + 5000:,} it "
                                                  r"declares"):
        read_zip(larger, **LIMITS)


def test_a_bomb_declaring_a_small_size_is_stopped_at_that_size():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("quiet.png", bytes(64 << 20))  # 64 MiB of zeros, about 64 KiB deflated
    forged = _patch_declared_size(buf.getvalue(), b"quiet.png", 1000)
    with pytest.raises(InvalidArchiveError, match="quiet.png in the archive is damaged or its "
                                                  "declared size is false"):
        read_zip(forged, **LIMITS)


def test_too_many_images_or_bytes_are_refused():
    data = _zip({f"{i}.png": _png(i) for i in range(4)})
    with pytest.raises(InvalidArchiveError, match=r"^the archive holds 4 images; the limit is 3$"):
        read_zip(data, max_files=3, max_total_bytes=50 << 20, max_ratio=100)
    total = sum(len(_png(i)) for i in range(4))
    with pytest.raises(InvalidArchiveError, match=r"^the images in the archive add up to 0\.0 MiB "
                                                  r"once extracted; the limit is 0\.0 MiB$"):
        read_zip(data, max_files=10, max_total_bytes=total - 1, max_ratio=100)
    assert len(read_zip(data, max_files=4, max_total_bytes=total, max_ratio=100).entries) == 4


def test_corrupt_empty_and_imageless_zips_are_refused(tmp_path):
    with pytest.raises(InvalidArchiveError, match=r"^the archive is not a zip file or is damaged"):
        read_zip(bytes(range(256)) * 10, **LIMITS)
    good = _zip({"a.png": _png(1), "b.png": _png(2)})
    with pytest.raises(InvalidArchiveError, match=r"^the archive is not a zip file or is damaged"):
        read_zip(good[:len(good) - 30], **LIMITS)  # the end of the central directory cut off
    with pytest.raises(InvalidArchiveError, match=r"^the archive is empty \(0 bytes\)$"):
        read_zip(b"", **LIMITS)
    with pytest.raises(InvalidArchiveError, match=r"^the archive holds no images \(looked for bmp, "
                                                  r"gif, jpeg, jpg, png, tif, tiff, webp\)$"):
        read_zip(_zip({"readme.txt": b"hi"}), **LIMITS)
    with pytest.raises(InvalidArchiveError, match="no such file"):
        read_zip(tmp_path / "missing.zip", **LIMITS)
    assert issubclass(InvalidArchiveError, InvalidMediaError)


def test_write_zip_writes_files_and_manifest(tmp_path):
    on_disk = tmp_path / "b.png"
    on_disk.write_bytes(_png(2))
    manifest = {"seed": 1234, "task": "sr", "failed": [{"name": "c.png", "reason": "not an image"}]}
    target = tmp_path / "results.zip"
    assert write_zip(target, [("a.png", _png(1)), ("b.png", on_disk), ("log.txt", b"ok")],
                     manifest) == target
    with zipfile.ZipFile(target) as zf:
        assert zf.namelist() == ["manifest.json", "a.png", "b.png", "log.txt"]
        assert json.loads(zf.read("manifest.json")) == manifest
        assert zf.read("a.png") == _png(1) and zf.read("b.png") == _png(2)
        assert zf.getinfo("a.png").compress_type == zipfile.ZIP_STORED  # PNG: stored as it is
        assert zf.getinfo("log.txt").compress_type == zipfile.ZIP_DEFLATED
    # and read_zip takes it back
    assert [e.name for e in read_zip(target, **LIMITS).entries] == ["a.png", "b.png"]


def test_write_zip_is_atomic_and_checks_names(tmp_path):
    target = tmp_path / "results.zip"
    target.write_bytes(b"previous")
    with pytest.raises(FileNotFoundError):
        write_zip(target, [("a.png", _png(1)), ("b.png", tmp_path / "missing.png")], {})
    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.zip"]
    for bad in ("../a.png", "dir/a.png", "", "manifest.json"):
        with pytest.raises(ValueError, match="zip"):
            write_zip(target, [(bad, b"x")], {})
    with pytest.raises(ValueError, match="appears twice"):
        write_zip(target, [("a.png", b"x"), ("A.png", b"y")], {})
    with pytest.raises(TypeError):
        write_zip(target, [("a.png", b"x")], {"not json": object()})
    assert target.read_bytes() == b"previous"
