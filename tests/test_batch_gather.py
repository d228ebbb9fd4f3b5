"""resshift.pipelines.batch.gather: image files and zips into one batch, masks paired by name, bad input
skipped or refused with its reason (no model runs here)."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from resshift.pipelines.batch import gather, header_pixels
from resshift.errors import InvalidRequest

LIMITS = dict(max_images=8, max_zip_bytes=50 << 20, max_ratio=50)


def _png(seed: int, size=(24, 16)) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


@pytest.fixture
def scratch(tmp_path) -> Path:
    folder = tmp_path / "scratch"
    folder.mkdir()
    return folder


def test_files_and_a_nested_zip_make_one_batch_with_skips_listed(tmp_path, scratch):
    single = tmp_path / "single.png"
    single.write_bytes(_png(0))
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    album = _zip(tmp_path / "album.zip", {"2019/summer/beach.png": _png(1), "top.jpg": _png(2),
                                          "2019/readme.md": b"# hi", "single.png": _png(3)})
    got = gather([single, notes, album], scratch, masks=False, **LIMITS)
    assert [(i.name, i.original) for i in got.items] == [
        ("single.png", "single.png"),
        ("2019_summer_beach.png", "album.zip: 2019/summer/beach.png"),
        ("top.jpg", "album.zip: top.jpg"),
        ("single-2.png", "album.zip: single.png"),  # a name already in the batch is numbered
    ]
    assert got.items[0].path == single  # a plain file is read where it is
    assert got.items[1].path.parent == scratch and got.items[1].path.read_bytes() == _png(1)
    assert [(s.name, s.reason) for s in got.skipped] == [
        ("notes.txt", "not an image or a zip (.txt)"), ("album.zip: 2019/readme.md", "not an image (.md)")]
    assert header_pixels(got.items[0].path) == 24 * 16


def test_masks_pair_by_name_and_orphans_are_listed(tmp_path, scratch):
    z = _zip(tmp_path / "room.zip", {"a.png": _png(1), "a_mask.png": _png(2), "sub/b.jpg": _png(3),
                                     "sub/b_mask.png": _png(4), "c.png": _png(5), "lost_mask.png": _png(6)})
    got = gather([z], scratch, masks=True, **LIMITS)
    pairs = {i.name: (i.mask.name if i.mask else None, i.mask_original) for i in got.items}
    assert pairs == {"a.png": ("a_mask.png", "room.zip: a_mask.png"),
                     "sub_b.jpg": ("sub_b_mask.png", "room.zip: sub/b_mask.png"),
                     "c.png": (None, None)}
    assert [(s.name, s.reason) for s in got.skipped] == [
        ("room.zip: lost_mask.png", "a mask without its image (no image named lost)")]
    # without masks (super-resolution) a *_mask file is an image like any other
    assert len(gather([z], scratch, masks=False, **LIMITS).items) == 6


def _bomb(path: Path) -> Path:
    """200 MiB of zeros deflated to a few hundred KiB, named like an image."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("bomb.png", "w", force_zip64=True) as f:
            zeros = bytes(1 << 20)
            for _ in range(200):
                f.write(zeros)
    return path


def test_a_zip_bomb_is_refused_from_its_declared_sizes_and_nothing_is_extracted(tmp_path, scratch):
    bomb = _bomb(tmp_path / "bomb.zip")
    fine = tmp_path / "fine.png"
    fine.write_bytes(_png(1))
    got = gather([bomb, fine], scratch, masks=False, **LIMITS)
    assert [i.name for i in got.items] == ["fine.png"]
    (skip,) = got.skipped
    assert skip.name == "bomb.zip" and "200.0 MiB" in skip.reason and "zip bombs" in skip.reason
    assert list(scratch.iterdir()) == []
    with pytest.raises(InvalidRequest, match=r"^nothing to restore: bomb\.zip: the archive is refused: "
                                             r"bomb\.png would expand"):
        gather([bomb], scratch, masks=False, **LIMITS)


def test_corrupt_and_empty_zips_and_too_many_images(tmp_path, scratch):
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(_zip(tmp_path / "x.zip", {"a.png": _png(1)}).read_bytes()[:-30])  # no central directory
    with pytest.raises(InvalidRequest, match=r"^nothing to restore: corrupt\.zip: corrupt\.zip is not a zip "
                                             r"file or is damaged"):
        gather([corrupt], scratch, masks=False, **LIMITS)
    many = _zip(tmp_path / "many.zip", {f"{i}.png": _png(i) for i in range(9)})
    with pytest.raises(InvalidRequest, match=r"many\.zip: the archive holds 9 images; the limit is 8"):
        gather([many], scratch, masks=False, **LIMITS)
    files = []
    for i in range(9):
        files.append(tmp_path / f"f{i}.png")
        files[-1].write_bytes(_png(i))
    with pytest.raises(InvalidRequest, match=r"^the batch holds 9 images; the limit is 8$"):
        gather(files, scratch, masks=False, **LIMITS)
    with pytest.raises(InvalidRequest, match="the batch holds no images"):
        gather([], scratch, masks=False, **LIMITS)
    # an image and its mask count once: 8 pairs fit a limit of 8 images
    pairs = {**{f"{i}.png": _png(i) for i in range(8)}, **{f"{i}_mask.png": _png(i) for i in range(8)}}
    assert len(gather([_zip(tmp_path / "pairs.zip", pairs)], scratch, masks=True, **LIMITS).items) == 8


def test_extracted_bytes_are_limited_across_zips(tmp_path, scratch):
    first = _zip(tmp_path / "first.zip", {"a.png": _png(1, (64, 64))})
    second = _zip(tmp_path / "second.zip", {"b.png": _png(2, (64, 64))})
    budget = len(_png(1, (64, 64))) + 100  # room for the first zip's image only
    got = gather([first, second], scratch, masks=False, max_images=8, max_zip_bytes=budget)
    assert [i.name for i in got.items] == ["a.png"]
    assert got.skipped[0].name == "second.zip" and "once extracted" in got.skipped[0].reason
