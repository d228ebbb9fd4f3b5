"""Where a weight file comes from, and fetching it safely.

:func:`resolve_weight` looks, in order, at: an explicit ``path``; the weights folder (argument, else
``$RESSHIFT_WEIGHTS_DIR``); the files bundled in the repository's ``assets/`` folder; the cache
(argument, else ``$RESSHIFT_CACHE_DIR``, else ``~/.cache/resshift``); and finally downloads
``file.url`` into the cache. :func:`weight_status` answers the same question without touching the
network, so an app can list which models work offline.

Downloads go to a uniquely named temporary file in the cache folder, are fsynced and checked
(Content-Length, the registry's ``size`` and ``sha256`` when known) and only then renamed onto the
final name with :func:`os.replace`, so a half file never sits under the final name and concurrent
resolves (threads or processes) never see a corrupt file. Within one process, concurrent resolves
of the same file share one download.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Literal

import resshift

from .registry import WeightFile

logger = logging.getLogger(__name__)

ENV_WEIGHTS_DIR = "RESSHIFT_WEIGHTS_DIR"
ENV_CACHE_DIR = "RESSHIFT_CACHE_DIR"
USER_AGENT = f"resshift-studio/{resshift.__version__} (python urllib)"
CHUNK = 1 << 20  # bytes read per network call

Progress = Callable[[int, int | None], None]
"""progress(done_bytes, total_bytes or None), called as a download advances."""
WeightStatus = Literal["local", "bundled", "cached", "downloadable", "missing"]


class WeightsUnavailable(Exception):
    """A weight file could not be found or fetched. The message says which file, from which URL,
    why, and where to put it by hand."""

    def __init__(self, file: WeightFile, reason: str, *, weights_dir: Path | None,
                 cache_dir: Path) -> None:
        self.filename = file.filename
        self.url = file.url
        self.reason = reason
        if weights_dir is not None:
            where = f"{weights_dir / file.filename} (the weights folder, ${ENV_WEIGHTS_DIR})"
        else:
            where = f"a folder named by ${ENV_WEIGHTS_DIR}"
        super().__init__(
            f"weight file {file.filename} is unavailable: {reason}. "
            f"URL: {file.url or 'none (the file should ship with the package)'}. "
            f"To install it by hand, download it and put it in {where}, or at "
            f"{cache_dir / file.filename} (the cache, ${ENV_CACHE_DIR})."
        )


class _Mismatch(Exception):
    """A file's size or SHA-256 differs from what is expected (internal)."""


def assets_dir() -> Path:
    """The repository's ``assets/`` folder, where bundled weight files live."""
    return Path(resshift.__file__).resolve().parents[1] / "assets"


def default_cache_dir() -> Path:
    """``$RESSHIFT_CACHE_DIR``, else ``~/.cache/resshift``."""
    env = os.environ.get(ENV_CACHE_DIR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "resshift"


def _weights_dir(weights_dir: str | os.PathLike | None) -> Path | None:
    chosen = weights_dir if weights_dir is not None else os.environ.get(ENV_WEIGHTS_DIR)
    return Path(chosen).expanduser() if chosen else None


def _cache_dir(cache_dir: str | os.PathLike | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


_verified: dict[tuple[str, int, int], None] = {}  # (path, size, mtime_ns) already hashed this run


def _check(file: WeightFile, path: Path) -> None:
    """Raise :class:`_Mismatch` when ``path`` differs from the registry's size or SHA-256."""
    stat = path.stat()
    if file.size is not None and stat.st_size != file.size:
        raise _Mismatch(f"size mismatch for {path}: {stat.st_size} bytes, expected {file.size}")
    if file.sha256 is None:
        return
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _verified:
        return
    digest = _sha256(path)
    if digest != file.sha256.lower():
        raise _Mismatch(f"SHA-256 mismatch for {path}: {digest}, expected {file.sha256}")
    _verified[key] = None


def _local_candidates(file: WeightFile, weights_dir: Path | None, cache_dir: Path
                      ) -> list[tuple[WeightStatus, Path]]:
    found: list[tuple[WeightStatus, Path]] = []
    if weights_dir is not None:
        found.append(("local", weights_dir / file.filename))
    if file.bundled is not None:
        found.append(("bundled", assets_dir() / file.bundled))
    found.append(("cached", cache_dir / file.filename))
    return found


def weight_status(file: WeightFile, *, weights_dir: str | os.PathLike | None = None,
                  cache_dir: str | os.PathLike | None = None) -> WeightStatus:
    """Where :func:`resolve_weight` would take ``file`` from, without network access.

    'local' (weights folder), 'bundled', 'cached', 'downloadable' (only the URL is known) or
    'missing'. Only sizes are checked here (hashing is left to :func:`resolve_weight`); a cached
    file of the wrong size counts as 'downloadable'.
    """
    candidates = _local_candidates(file, _weights_dir(weights_dir), _cache_dir(cache_dir))
    for status, candidate in candidates:
        if candidate.is_file() and (file.size is None or candidate.stat().st_size == file.size):
            return status
    return "downloadable" if file.url else "missing"


def resolve_weight(file: WeightFile, *, path: str | os.PathLike | None = None,
                   weights_dir: str | os.PathLike | None = None,
                   cache_dir: str | os.PathLike | None = None, allow_download: bool = True,
                   progress: Progress | None = None, timeout: float = 60) -> Path:
    """Return the path of a verified copy of ``file``, downloading it into the cache if needed.

    An explicit ``path`` is taken as is (it must exist; it is not checked against the registry).
    Files in the weights folder or bundled must match the registry's size/SHA-256 when known. A
    cached file that does not match is deleted and fetched again (or reported when
    ``allow_download`` is False). Raises :class:`WeightsUnavailable` with one clear message.
    """
    wdir, cdir = _weights_dir(weights_dir), _cache_dir(cache_dir)

    def unavailable(reason: str) -> WeightsUnavailable:
        return WeightsUnavailable(file, reason, weights_dir=wdir, cache_dir=cdir)

    if path is not None:
        explicit = Path(path).expanduser()
        if not explicit.is_file():
            raise unavailable(f"the given path {explicit} does not exist")
        return explicit
    for status, candidate in _local_candidates(file, wdir, cdir):
        if not candidate.is_file():
            continue
        try:
            _check(file, candidate)
            return candidate
        except _Mismatch as err:
            if status != "cached" or not allow_download or not file.url:
                refetch = " (downloads are disabled)" if status == "cached" else ""
                raise unavailable(f"{err}{refetch}") from None
            logger.warning("%s; deleting it and downloading again", err)
            candidate.unlink(missing_ok=True)
    if not file.url:
        hint = "" if assets_dir().is_dir() else (
            " (this copy of resshift was installed without the repository's assets/ folder: "
            "install it from a clone with `pip install -e .`)")
        raise unavailable(f"it is not bundled at {assets_dir() / (file.bundled or '')}{hint} "
                          "and has no download URL")
    if not allow_download:
        raise unavailable("it is not on disk and downloads are disabled (allow_download=False)")
    target = cdir / file.filename
    with _lock_for(target):
        if target.is_file():  # another thread fetched it while we waited
            try:
                _check(file, target)
                return target
            except _Mismatch:
                target.unlink(missing_ok=True)
        try:
            _download(file, target, progress=progress, timeout=timeout)
        except (_Mismatch, OSError, http.client.HTTPException) as err:
            raise unavailable(_describe(err, timeout)) from err
    return target


_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(target: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(target.resolve(), threading.Lock())


def _describe(err: BaseException, timeout: float) -> str:
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        if isinstance(err.reason, TimeoutError):
            return f"no answer within {timeout:g} s (offline?)"
        return f"could not connect (offline?): {err.reason}"
    if isinstance(err, TimeoutError):
        return f"the transfer stalled for {timeout:g} s (interrupted)"
    if isinstance(err, (http.client.HTTPException, ConnectionError)):
        return f"the transfer was interrupted: {err!r}"
    return str(err)


def _download(file: WeightFile, target: Path, *, progress: Progress | None, timeout: float) -> None:
    """Fetch ``file.url`` to ``target`` atomically; raise on any error, leaving no temp file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    request = urllib.request.Request(file.url, headers={"User-Agent": USER_AGENT})
    logger.info("downloading %s from %s", file.filename, file.url)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{file.filename}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length is not None else file.size
            digest = hashlib.sha256()
            done, logged_tenths = 0, 0
            if progress is not None:
                progress(0, total)
            while block := resp.read(CHUNK):
                out.write(block)
                digest.update(block)
                done += len(block)
                if progress is not None:
                    progress(done, total)
                if total and 10 * done // total > logged_tenths:  # log each 10 %
                    logged_tenths = 10 * done // total
                    logger.info("%s: %d%% of %.1f MB", file.filename, 100 * done // total,
                                total / 1e6)
            out.flush()
            os.fsync(out.fileno())
        if length is not None and done != int(length):
            raise _Mismatch(f"the transfer was interrupted after {done} of {length} bytes")
        if file.size is not None and done != file.size:
            raise _Mismatch(f"size mismatch: downloaded {done} bytes, expected {file.size}")
        if file.sha256 is not None and digest.hexdigest() != file.sha256.lower():
            raise _Mismatch(f"SHA-256 mismatch: downloaded {digest.hexdigest()}, "
                            f"expected {file.sha256}")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    logger.info("saved %s (%d bytes)", target, done)
