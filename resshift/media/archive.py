"""Reading a zip of images safely, and writing a zip of results.

``read_zip`` decides from the central directory alone (names, declared sizes, compression method),
before a byte is decompressed: it refuses the whole archive when it holds too many images, when
their declared total is too large, or when an entry declares a compression ratio no photo has (a
zip bomb); it skips folders, hidden and system files (``__MACOSX/``, ``.DS_Store``, ``Thumbs.db``),
non-images, encrypted entries and unsafe names (absolute, ``..``), each with its reason. While
extracting, it reads at most one byte past each entry's declared size, so an entry whose header
lies about its size is stopped there (and one shorter than declared is refused too).

Names come back flattened: the folders joined into the file name (``album/2019/a.png`` ->
``album_2019_a.png``), characters a file system may refuse replaced, collisions numbered
(``a.png``, ``a-2.png``; case-insensitive, as on Windows and macOS). Every name is a plain file name,
safe to join to an output folder.

The standard library's ``zipfile`` parses the archive; this module adds only the policy.
"""
from __future__ import annotations

import io
import json
import logging
import os
import re
import struct
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Sequence, Union

from .atomic import atomic_target
from .errors import InvalidArchiveError

log = logging.getLogger(__name__)

# what the image reader decodes (resshift.pipelines.image_io)
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
# files that operating systems leave in folders and zips, never the user's images
_SYSTEM_NAMES = frozenset({"thumbs.db", "desktop.ini", "ehthumbs.db"})
_SYSTEM_FOLDERS = frozenset({"__macosx"})
# below this declared size an entry is not checked for its compression ratio: a small file of
# flat colour compresses a thousandfold and harms no one (the total is still capped)
RATIO_CHECK_MIN_BYTES = 1 << 20
_READ_CHUNK = 1 << 20
_MAX_NAME_CHARS = 150
_UNSAFE_CHARS = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]')
# already-compressed outputs are stored as they are in the result zip (deflate would only cost time)
_STORED_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".mp4", ".zip"})
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class ArchiveEntry:
    """An image file from the archive. name: flattened, unique, safe as a file name; original:
    its path inside the zip; data: its bytes (not yet checked to be a valid image)."""

    name: str
    original: str
    data: bytes


@dataclass(frozen=True)
class SkippedEntry:
    """An entry that was not extracted, and why (a sentence for a person)."""

    name: str
    reason: str


@dataclass(frozen=True)
class ZipContents:
    """The images of an archive, in the archive's order, and the entries skipped."""

    entries: tuple[ArchiveEntry, ...]
    skipped: tuple[SkippedEntry, ...]


def _mib(n: int) -> str:
    return f"{n / (1 << 20):,.1f} MiB"


def _parts(name: str) -> list[str]:
    """The path parts of a zip entry name (zips made on Windows may use backslashes)."""
    return [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]


def _skip_reason(info: zipfile.ZipInfo) -> str | None:
    """Why this central-directory entry is not an image to extract, or None if it is one."""
    name = info.filename
    if info.is_dir():
        return "a folder"
    raw = name.replace("\\", "/")
    parts = _parts(name)
    if raw.startswith("/") or re.match(r"^[A-Za-z]:", raw) or ".." in parts or not parts:
        return "an unsafe name (an absolute path or '..'): the archive may be malicious"
    if any(p.lower() in _SYSTEM_FOLDERS for p in parts[:-1]):
        return "a system folder's file (__MACOSX)"
    if any(p.startswith(".") for p in parts) or parts[-1].lower() in _SYSTEM_NAMES:
        return "a hidden or system file"
    suffix = PurePosixPath(parts[-1]).suffix.lower()
    if suffix not in IMAGE_EXTENSIONS:
        return f"not an image ({suffix or 'no extension'})"
    if info.flag_bits & 0x1:
        return "encrypted (password-protected)"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2,
                                  zipfile.ZIP_LZMA):
        return f"compressed with a method this server cannot read (method {info.compress_type})"
    return None


def _safe_name(parts: Sequence[str]) -> str:
    """One file name from a path's parts: folders joined by '_', unsafe characters replaced."""
    stem_parts = [unicodedata.normalize("NFC", p) for p in parts]
    name = "_".join(_UNSAFE_CHARS.sub("_", p).strip(" .") or "_" for p in stem_parts)
    if len(name) > _MAX_NAME_CHARS:
        suffix = PurePosixPath(name).suffix[:10]
        name = name[:_MAX_NAME_CHARS - len(suffix)] + suffix
    return name


def unique_name(name: str, taken: set[str]) -> str:
    """``name``, or ``stem-2.ext``, ``stem-3.ext``, ... if taken (compared case-insensitively); the
    name chosen is added to ``taken`` (lower case). The one rule for names in a zip, a batch's
    files and its results."""
    candidate, n = name, 1
    path = PurePosixPath(name)
    while candidate.lower() in taken:
        n += 1
        candidate = f"{path.stem}-{n}{path.suffix}"
    taken.add(candidate.lower())
    return candidate


def _open_zip(source: Union[str, os.PathLike, bytes]) -> zipfile.ZipFile:
    label = "the archive" if isinstance(source, bytes) else Path(source).name
    try:
        if isinstance(source, bytes):
            if not source:
                raise InvalidArchiveError("the archive is empty (0 bytes)")
            return zipfile.ZipFile(io.BytesIO(source))
        return zipfile.ZipFile(source)
    except InvalidArchiveError:
        raise
    except FileNotFoundError as exc:
        raise InvalidArchiveError(f"no such file: {source}") from exc
    except IsADirectoryError as exc:
        raise InvalidArchiveError(f"{label} is a folder, not a zip file") from exc
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise InvalidArchiveError(f"{label} is not a zip file or is damaged ({exc})") from exc


def _declared_entries(source: Union[str, os.PathLike, bytes]) -> int | None:
    """How many entries the archive's end record declares, read without parsing its central
    directory (``zipfile.ZipFile`` builds an object per entry when it opens: 200,000 entries took
    over 100 MB); None when it cannot be read here (``_open_zip`` then says why)."""
    try:
        if isinstance(source, bytes):
            end = zipfile._EndRecData(io.BytesIO(source))  # the standard library's own reader
        else:
            with open(source, "rb") as fp:
                end = zipfile._EndRecData(fp)
        return None if end is None else int(end[zipfile._ECD_ENTRIES_TOTAL])
    except (OSError, AttributeError, IndexError, TypeError, ValueError, struct.error):
        return None


def _extract(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """An entry's bytes, reading at most its declared size plus one byte."""
    chunks: list[bytes] = []
    got = 0
    limit = info.file_size + 1
    try:
        with zf.open(info) as f:
            while got < limit:
                chunk = f.read(min(_READ_CHUNK, limit - got))
                if not chunk:
                    break
                chunks.append(chunk)
                got += len(chunk)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise InvalidArchiveError(
            f"{info.filename} in the archive is damaged or its declared size is false ({exc})") from exc
    if got > info.file_size:
        raise InvalidArchiveError(
            f"{info.filename} in the archive holds more data than the {info.file_size:,} bytes it "
            "declares: the archive is damaged or forged")
    if got < info.file_size:
        raise InvalidArchiveError(
            f"{info.filename} in the archive holds {got:,} bytes, less than the {info.file_size:,} "
            "it declares: the archive is damaged")
    return b"".join(chunks)


def skipped_summary(skipped: Sequence[SkippedEntry], most: int = 3) -> str:
    """'200,000 entries skipped: 199,998 not an image (.txt), 2 hidden' - the reasons, most
    frequent first (``most`` of them), for one log line or report line instead of one per entry."""
    counts: dict[str, int] = {}
    for s in skipped:
        counts[s.reason] = counts.get(s.reason, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    parts = [f"{n:,} {reason}" for reason, n in ranked[:most]]
    if len(ranked) > most:
        parts.append(f"{sum(n for _, n in ranked[most:]):,} for {len(ranked) - most} other reasons")
    return f"{len(skipped):,} entr{'y' if len(skipped) == 1 else 'ies'} skipped: " + ", ".join(parts)


def read_zip(source: Union[str, os.PathLike, bytes], *, max_files: int, max_total_bytes: int,
             max_ratio: float, max_entries: int | None = None) -> ZipContents:
    """The image files of a zip archive (a path or its bytes), with the entries skipped and why.

    Refused as a whole with :class:`InvalidArchiveError`, from the central directory and before
    anything is decompressed: not a zip or damaged; more than ``max_entries`` entries of any kind
    (skipped ones count: 200,000 text files are work and a report too); more than ``max_files`` images; images whose
    declared sizes add up to more than ``max_total_bytes``; any entry of at least
    ``RATIO_CHECK_MIN_BYTES`` declared bytes whose declared size is over ``max_ratio`` times its
    compressed size (zip bombs expand a thousandfold; photos barely compress). During extraction:
    an entry holding more or less data than declared, or failing its checksum. No image (only
    skipped entries) is refused too. Nothing is written to disk.
    """
    def too_many(n: int) -> InvalidArchiveError:
        return InvalidArchiveError(
            f"the archive holds {n:,} entries; the limit is {max_entries:,} entries of any kind "
            "(images, other files and folders). Zip only the images to restore")

    declared = _declared_entries(source) if max_entries is not None else None
    if declared is not None and declared > max_entries:
        raise too_many(declared)  # before the central directory is parsed
    with _open_zip(source) as zf:
        try:
            infos = zf.infolist()
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise InvalidArchiveError(f"the archive is damaged ({exc})") from exc
        if max_entries is not None and len(infos) > max_entries:
            raise too_many(len(infos))
        images: list[zipfile.ZipInfo] = []
        skipped: list[SkippedEntry] = []
        for info in infos:
            if not info.is_dir() and info.file_size >= RATIO_CHECK_MIN_BYTES:
                ratio = info.file_size / max(info.compress_size, 1)
                if ratio > max_ratio:
                    raise InvalidArchiveError(
                        f"the archive is refused: {info.filename} would expand from "
                        f"{_mib(info.compress_size)} to {_mib(info.file_size)} ({ratio:,.0f} times; "
                        f"the limit is {max_ratio:g}), which is how zip bombs are made")
            reason = _skip_reason(info)
            if reason is None:
                images.append(info)
            else:
                skipped.append(SkippedEntry(info.filename, reason))
        if len(images) > max_files:
            raise InvalidArchiveError(
                f"the archive holds {len(images):,} images; the limit is {max_files:,}")
        total = sum(info.file_size for info in images)
        if total > max_total_bytes:
            raise InvalidArchiveError(
                f"the images in the archive add up to {_mib(total)} once extracted; the limit is "
                f"{_mib(max_total_bytes)}")
        if not images:
            raise InvalidArchiveError(
                "the archive holds no images (looked for "
                f"{', '.join(sorted(e.lstrip('.') for e in IMAGE_EXTENSIONS))})")
        taken: set[str] = set()
        entries = []
        for info in images:
            name = unique_name(_safe_name(_parts(info.filename)), taken)
            entries.append(ArchiveEntry(name, info.filename, _extract(zf, info)))
        if skipped:  # one line, not one per entry
            log.info("zip: %s", skipped_summary(skipped))
        return ZipContents(tuple(entries), tuple(skipped))


def write_zip(target: str | os.PathLike, files: Sequence[tuple[str, Union[bytes, str, os.PathLike]]],
              manifest: dict[str, Any]) -> Path:
    """Write ``files`` (name, bytes or a path to read) and ``manifest`` as ``manifest.json`` into a
    zip at ``target``, atomically (a temporary file beside it, renamed when complete). Names must be
    plain, unique file names (no folders, not ``manifest.json``), else ValueError before anything
    is written; the manifest must be JSON-serialisable (TypeError otherwise). Returns the target.
    """
    target = Path(target)
    seen: set[str] = set()
    for name, _ in files:
        if not name or name != _safe_name([name]) or name in (".", ".."):
            raise ValueError(f"{name!r} is not a plain file name for the zip")
        if name.lower() == MANIFEST_NAME or name.lower() in seen:
            raise ValueError(f"{name!r} appears twice in the zip (or is {MANIFEST_NAME!r})")
        seen.add(name.lower())
    manifest_text = json.dumps(manifest, indent=2, ensure_ascii=False)
    with atomic_target(target) as tmp:
        with zipfile.ZipFile(tmp, "w") as zf:
            zf.writestr(MANIFEST_NAME, manifest_text, compress_type=zipfile.ZIP_DEFLATED)
            for name, content in files:
                method = (zipfile.ZIP_STORED if PurePosixPath(name).suffix.lower() in _STORED_EXTENSIONS
                          else zipfile.ZIP_DEFLATED)
                if isinstance(content, bytes):
                    zf.writestr(name, content, compress_type=method)
                else:
                    zf.write(content, arcname=name, compress_type=method)
    return target
