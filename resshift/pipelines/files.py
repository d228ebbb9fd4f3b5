"""How files become a batch's inputs and outputs: which files of a folder are images, which image
is an inpainting mask and whose, what each result is called, and restoring one file
(:func:`restore_file`). One rule for the command line, the Ray runner and the studio's batches."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from ..errors import InvalidRequest, free_memory, is_out_of_memory
from ..media.archive import unique_name
from .tasks import InvalidMaskError
from .result import RestoreResult

log = logging.getLogger(__name__)

# files a folder input picks up (HEIC/AVIF too: where Pillow cannot read them they are reported)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".avif", ".heic", ".heif"}
# a mask is NAME_mask.<ext> (or NAME.<ext> in a folder of masks) for the input NAME.*
MASK_TAG = "_mask"
MASK_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


def mask_stem(name: str) -> str | None:
    """'room_mask.png' -> 'room' (the input it belongs to); None when it is not a mask's name."""
    stem = Path(name).stem
    return stem[: -len(MASK_TAG)] if stem.lower().endswith(MASK_TAG) and len(stem) > len(MASK_TAG) else None


def folder_inputs(path: Path, masks: Path | None = None) -> list[Path]:
    """The images to restore: the file ``path``, or the image files of the folder ``path`` (in name
    order). In a folder that also holds the masks (``masks`` the same folder), ``*_mask.*`` files
    are masks, not inputs. FileNotFoundError when ``path`` does not exist."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if masks is not None and masks.is_dir() and masks.resolve() == path.resolve():
            files = [p for p in files if mask_stem(p.name) is None]
        return files
    if not path.exists():
        raise FileNotFoundError(f"input {path} does not exist")
    return [path]


def output_names(names: Sequence[str], stem: Callable[[str], str] = lambda name: Path(name).stem) -> list[str]:
    """The result file of each input: ``STEM.png``; inputs sharing a stem keep their suffix
    (``a_jpg.png``, ``a_png.png``); any name still taken gets ``-2``, ``-3`` (case-insensitively).
    ``stem``: how an input's name becomes a stem (the studio makes uploaded names safe)."""
    stems = [stem(n) for n in names]
    out, taken = [], set()
    for name, s in zip(names, stems):
        if stems.count(s) > 1:
            s = f"{s}_{Path(name).suffix.lstrip('.').lower() or 'image'}"
        out.append(unique_name(f"{s}.png", taken))
    return out


def mask_for(inp: Path, mask: Path) -> Path:
    """``mask`` a file: it, for every input; a folder: ``<stem>_mask.<ext>``, ``<name>`` or
    ``<stem>.<ext>`` in it, the first that exists (never the input itself)."""
    if mask.is_dir():
        names = [inp.stem + MASK_TAG + s for s in MASK_SUFFIXES] + [inp.name] + [inp.stem + s for s in MASK_SUFFIXES]
        for cand in (mask / n for n in names):
            if cand.is_file() and cand.resolve() != inp.resolve():
                return cand
        raise InvalidMaskError(f"no mask for {inp.name} in {mask} (looked for {inp.stem}{MASK_TAG}.png, "
                               f"{inp.name}, ...)")
    return mask


@dataclass(frozen=True)
class FileOutcome:
    """What became of one file: its result (saved at ``target``), or the reason it failed, in a
    sentence (``result`` None)."""

    source: Path
    target: Path
    result: RestoreResult | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.result is not None


def restore_file(source: Path, target: Path, run: Callable[[], RestoreResult], *, save: bool = True,
                 out_of_memory: str = "out of memory; try a smaller --tile or --max-pixels") -> FileOutcome:
    """One file through ``run`` (a restoration of ``source``), its result saved at ``target``
    atomically (:meth:`RestoreResult.save`; ``save=False`` when ``run`` wrote it, as a video does).
    The failures a file can meet (a bad request or image, a file system error, running out of
    memory: ``out_of_memory`` is then the reason) come back as a reason; anything else (a
    cancellation, the request's time running out) propagates. One routine for the command line,
    its video path, the Ray runner and the studio's batches."""
    try:
        result = run()
        if save:
            target.parent.mkdir(parents=True, exist_ok=True)
            result.save(target)
        return FileOutcome(source, target, result)
    except (InvalidRequest, OSError) as exc:
        return FileOutcome(source, target, reason=str(exc))
    except (MemoryError, RuntimeError) as exc:
        if not is_out_of_memory(exc):
            raise
        log.warning("out of memory on %s: %s", source.name, exc)
        free_memory()
        return FileOutcome(source, target, reason=out_of_memory)
