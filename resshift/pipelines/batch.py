"""The inputs of a batch: image files and zips of images, with inpainting masks paired by name.

:func:`gather` turns what a person brought (several image files, zips, or both) into a list of
:class:`BatchItem` (a name, a file to read, its mask) and a list of what was skipped and why. Zips
are read by :func:`resshift.media.read_zip` (limits from the central directory, zip bombs and unsafe
names refused, folders flattened into the names) and their images written to a private folder.
Masks follow the command line's rule for ``--mask DIR``: ``NAME_mask.png`` is the mask of
``NAME.png`` (any image suffix on either side). Nothing here decodes an image or runs a model.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Sequence

from .files import mask_stem
from ..errors import InvalidRequest
from ..media.archive import IMAGE_EXTENSIONS, SkippedEntry, read_zip, unique_name
from ..media.errors import InvalidArchiveError

ZIP_SUFFIX = ".zip"


@dataclass(frozen=True)
class BatchItem:
    """One image of a batch. name: a plain file name, unique in the batch (a zip's folders joined
    into it: ``album_2019_a.png``); original: where it came from (the uploaded file's name, or its
    path inside the zip); path: the file to read; mask / mask_original: its mask (inpainting)."""

    name: str
    original: str
    path: Path
    mask: Path | None = None
    mask_original: str | None = None


@dataclass(frozen=True)
class Gathered:
    """The images of a batch, in the order given (a zip's in its own order), and what was skipped."""

    items: tuple[BatchItem, ...]
    skipped: tuple[SkippedEntry, ...]


def header_pixels(path: str | os.PathLike) -> int:
    """An image file's width x height from its header (nothing decoded); 0 when it cannot be read
    (its run then says why)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.size[0] * img.size[1]
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return 0


ENTRIES_PER_IMAGE = 8  # files and zip entries of any kind a batch may hold, per image it may restore
MIN_ENTRIES = 64


def gather(files: Sequence[str | os.PathLike], folder: str | os.PathLike, *, masks: bool, max_images: int,
           max_zip_bytes: int, max_ratio: float = 50.0, max_entries: int | None = None) -> Gathered:
    """The batch in ``files``: image files as they are, zips extracted into ``folder`` (which must
    exist and be private to the request). masks: pair ``NAME_mask.*`` with ``NAME.*`` (inpainting);
    an image without its mask is kept (with ``mask`` None: its run says what is missing), a mask
    without its image is skipped.

    A zip refused as a whole (damaged, a zip bomb, too many images, images adding up to more than
    what is left of ``max_zip_bytes`` once extracted: :class:`InvalidArchiveError`, decided before
    anything is extracted) is skipped with that reason, as are files that are neither images nor
    zips. Skipped entries count toward the batch: the files and zip entries of every kind, skipped
    ones included, may number ``max_entries`` in all (default ``ENTRIES_PER_IMAGE`` x
    ``max_images``, at least ``MIN_ENTRIES``); a zip past what is left is refused as a whole.
    Raises :class:`~resshift.errors.InvalidRequest` for more than ``max_images`` images in
    all, or none (naming the first reasons)."""
    entries_left = max_entries if max_entries is not None else max(MIN_ENTRIES, ENTRIES_PER_IMAGE * max_images)
    folder = Path(folder)
    found: list[tuple[str, str, Path]] = []  # (name, original, path)
    skipped: list[SkippedEntry] = []
    taken: set[str] = set()
    budget_bytes = max_zip_bytes
    for file in files:
        path = Path(file)
        suffix = path.suffix.lower()
        if suffix == ZIP_SUFFIX:
            per_image = 2 if masks else 1  # an image and its mask
            try:
                zipped = read_zip(path, max_files=max(1, per_image * max_images - len(found)),
                                  max_total_bytes=max(1, budget_bytes), max_ratio=max_ratio,
                                  max_entries=max(1, entries_left))
            except InvalidArchiveError as exc:  # the whole zip is refused; other files may go on
                skipped.append(SkippedEntry(path.name, str(exc)))
                entries_left -= 1
                continue
            entries_left -= len(zipped.entries) + len(zipped.skipped)
            skipped.extend(SkippedEntry(f"{path.name}: {s.name}", s.reason) for s in zipped.skipped)
            for entry in zipped.entries:
                name = unique_name(entry.name, taken)
                target = folder / name
                target.write_bytes(entry.data)
                budget_bytes -= len(entry.data)
                found.append((name, f"{path.name}: {entry.original}", target))
        elif suffix in IMAGE_EXTENSIONS:
            found.append((unique_name(path.name, taken), path.name, path))
        else:
            skipped.append(SkippedEntry(path.name, f"not an image or a zip ({suffix or 'no extension'})"))
        if suffix != ZIP_SUFFIX:
            entries_left -= 1
    if not masks:
        items = [BatchItem(n, o, p) for n, o, p in found]
    else:
        images = [(n, o, p) for n, o, p in found if mask_stem(n) is None]
        stems = {PurePosixPath(n).stem.lower() for n, _, _ in images}
        mask_of: dict[str, tuple[str, Path]] = {}
        for name, original, path in found:
            stem = mask_stem(name)
            if stem is None:
                continue
            if stem.lower() not in stems:
                skipped.append(SkippedEntry(original, f"a mask without its image (no image named {stem})"))
            elif stem.lower() in mask_of:
                skipped.append(SkippedEntry(original, f"a second mask for {stem} (the first one is used)"))
            else:
                mask_of[stem.lower()] = (original, path)
        items = []
        for name, original, path in images:
            mask_original, mask = mask_of.get(PurePosixPath(name).stem.lower(), (None, None))
            items.append(BatchItem(name, original, path, mask, mask_original))
    if len(items) > max_images:
        raise InvalidRequest(f"the batch holds {len(items):,} images; the limit is {max_images:,}")
    if not items:
        why = "; ".join(f"{s.name}: {s.reason}" for s in skipped[:3]) + ("; ..." if len(skipped) > 3 else "")
        raise InvalidRequest(f"nothing to restore: {why}" if why else "the batch holds no images: add image "
                             "files (PNG, JPEG, WebP, BMP, TIFF, GIF) or a zip of them")
    return Gathered(tuple(items), tuple(skipped))
