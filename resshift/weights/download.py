"""Where a weight file comes from, and fetching it safely.

:func:`resolve_weight` looks, in order, at: an explicit ``path``; the weights folder (argument, else
``$RESSHIFT_WEIGHTS_DIR``); the files bundled in the repository's ``assets/`` folder; the cache
(argument, else ``$RESSHIFT_CACHE_DIR``, else ``~/.cache/resshift``); and finally downloads it
into the cache, from ``file.url`` or a mirror (:func:`download_url`). :func:`weight_status` answers the same question without touching the
network, so an app can list which models work offline.

A download that makes too little progress (under ``STALL_MIN_BYTES`` in ``STALL_WINDOW_S``: a
mirror that drips a byte at a time, or says nothing) ends with a reason naming the URL, and its
``progress`` callback may raise to stop it (a request's cancel token does, through it).

Downloads go to a uniquely named temporary file in the cache folder, are fsynced and checked
(Content-Length, the registry's ``size`` and ``sha256`` when known, then the caller's ``validate``,
e.g. the model's key/shape layout) and only then renamed onto the final name with
:func:`os.replace`, so a half or wrong file never sits under the final name and concurrent
resolves (threads or processes) never see a corrupt file. Within one process, concurrent resolves
of the same file share one download.

Environment:

- ``RESSHIFT_WEIGHTS_MIRROR``: a base URL that replaces the release prefix of every download: a
  file is fetched from ``MIRROR.rstrip('/') + '/' + filename`` (the ``mirror`` argument of
  :func:`resolve_weight` wins over it; an empty argument means no mirror). For users behind a
  firewall, and for tests.
- ``RESSHIFT_VERIFY_WEIGHTS``: ``0`` (or false/no/off) turns the registry's size/SHA-256 pins off,
  so a private mirror or weights folder can serve other files of the same layout (tests with
  random weights under the official names use it). ``validate`` (the layout check) stays on.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import http.client
import logging
import os
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Literal

from ..settings import ENV_CACHE_DIR, ENV_MIRROR, ENV_WEIGHTS_DIR, settings
from . import gdrive
from .registry import WeightFile

logger = logging.getLogger(__name__)


def _installed_version() -> str:
    """The installed package's version (``pip install -e .``), 'dev' in a plain checkout."""
    try:
        return importlib.metadata.version("resshift-studio")
    except importlib.metadata.PackageNotFoundError:
        return "dev"


USER_AGENT = f"resshift-studio/{_installed_version()} (python urllib)"
CHUNK = 1 << 20  # bytes read per network call, at most
STALL_WINDOW_S = 30.0  # a download must bring STALL_MIN_BYTES in every window of this many seconds
STALL_MIN_BYTES = 64 << 10

Progress = Callable[[int, int | None], None]
"""progress(done_bytes, total_bytes or None), called as a download advances."""
Validate = Callable[[Path], None]
"""validate(path) of a fully downloaded file; raises ValueError (WeightsLoadError is one) to refuse
it. resshift.weights.safe_load.checkpoint_validator makes one from a model's layout."""
WeightStatus = Literal["local", "bundled", "cached", "downloadable", "missing"]


class WeightsUnavailable(Exception):
    """A weight file could not be found or fetched. The message says which file, from which URL,
    why, and where to put it by hand."""

    def __init__(self, file: WeightFile, reason: str, *, weights_dir: Path | None,
                 cache_dir: Path, url: str | None = None) -> None:
        self.filename = file.filename
        self.url = url or file.url  # the URL tried (a mirror's, when one is set)
        self.reason = reason
        self.also: tuple[str, ...] = ()  # the model's other weight files that are not here either
        if weights_dir is not None:
            where = f"{weights_dir / file.filename} (the weights folder, ${ENV_WEIGHTS_DIR})"
        else:
            where = f"a weights folder (--weights-dir, or ${ENV_WEIGHTS_DIR})"
        source = self.url or "none (the file should ship with the package)"
        if self.url and self.url != file.url:
            source += f" (the weights mirror, ${ENV_MIRROR}; official source {file.url})"
        super().__init__(
            f"weight file {file.filename} is unavailable: {reason}. URL: {source}. "
            f"To install it by hand, download it and put it in {where}, or at "
            f"{cache_dir / file.filename} (the cache, ${ENV_CACHE_DIR})."
        )


    def needing_also(self, filenames: list[str]) -> "WeightsUnavailable":
        """This error, naming the model's other weight files that are not on this machine either
        (so that a person puts all of them in place at once)."""
        self.also = tuple(filenames)
        if filenames:
            verb = "is" if len(filenames) == 1 else "are"
            also = f"The model also needs {' and '.join(filenames)}, which {verb} not on this machine either."
            self.args = (f"{self.args[0]} {also}",)
        return self


class _Mismatch(Exception):
    """A file's size or SHA-256 differs from what is expected (internal)."""


class _Stalled(Exception):
    """The transfer brought too few bytes in its last window."""


class _Invalid(Exception):
    """The caller's ``validate`` refused a downloaded file: its message, with the temporary file's
    name replaced; ``__cause__`` is the validator's error (internal)."""


def assets_dir() -> Path:
    """The repository's ``assets/`` folder, where bundled weight files live."""
    return Path(__file__).resolve().parents[2] / "assets"


def default_cache_dir() -> Path:
    """``$RESSHIFT_CACHE_DIR``, else ``~/.cache/resshift``."""
    return settings().cache_dir


def weights_folder(weights_dir: str | os.PathLike | None = None) -> Path | None:
    """The weights folder looked in: ``weights_dir``, else $RESSHIFT_WEIGHTS_DIR, else None."""
    if weights_dir is not None:
        return Path(weights_dir).expanduser() if os.fspath(weights_dir) else None
    return settings().weights_dir


def _cache_dir(cache_dir: str | os.PathLike | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def verify_pins() -> bool:
    """False when ``$RESSHIFT_VERIFY_WEIGHTS`` is 0/false/no/off: size/SHA-256 pins are skipped."""
    return settings().verify_pins


def download_url(file: WeightFile, mirror: str | None = None) -> str | None:
    """The URL a download of ``file`` uses: ``mirror`` (else ``$RESSHIFT_WEIGHTS_MIRROR``; '' means
    none) joined with the file name, else the registry's URL. None when the file has no URL."""
    if not file.url:
        return None
    base = mirror if mirror is not None else settings().mirror
    base = base.strip()
    return f"{base.rstrip('/')}/{file.filename}" if base else file.url


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


_verified: dict[tuple[str, int, int], None] = {}  # (path, size, mtime_ns) already hashed this run


def _check(file: WeightFile, path: Path) -> None:
    """Raise :class:`_Mismatch` when ``path`` differs from the registry's size or SHA-256 (nothing
    is checked when :func:`verify_pins` is off)."""
    if not verify_pins():
        return
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
    names = (file.filename, *file.aliases)  # an upstream name (RSD's ema_model_2800.pth) is found too
    found: list[tuple[WeightStatus, Path]] = []
    if weights_dir is not None:
        found += [("local", weights_dir / name) for name in names]
    if file.bundled is not None:
        found.append(("bundled", assets_dir() / file.bundled))
    found += [("cached", cache_dir / name) for name in names]
    return found


def weight_status(file: WeightFile, *, weights_dir: str | os.PathLike | None = None,
                  cache_dir: str | os.PathLike | None = None) -> WeightStatus:
    """Where :func:`resolve_weight` would take ``file`` from, without network access.

    'local' (weights folder), 'bundled', 'cached', 'downloadable' (only the URL is known) or
    'missing'. Only sizes are checked here (hashing is left to :func:`resolve_weight`; neither when
    :func:`verify_pins` is off); a cached file of the wrong size counts as 'downloadable'.
    """
    candidates = _local_candidates(file, weights_folder(weights_dir), _cache_dir(cache_dir))
    size = file.size if verify_pins() else None
    for status, candidate in candidates:
        if candidate.is_file() and (size is None or candidate.stat().st_size == size):
            return status
    return "downloadable" if file.url else "missing"


def mismatched_copy(file: WeightFile, *, weights_dir: str | os.PathLike | None = None,
                    cache_dir: str | os.PathLike | None = None) -> str | None:
    """Why a file of ``file``'s name that is on disk is not taken for it ('size mismatch for PATH:
    N bytes, expected M'), for the first such copy :func:`weight_status` passed over; None when
    there is none (the file is absent). Sizes only, without the network."""
    if not verify_pins() or file.size is None:
        return None
    for _, candidate in _local_candidates(file, weights_folder(weights_dir), _cache_dir(cache_dir)):
        if candidate.is_file() and candidate.stat().st_size != file.size:
            return f"size mismatch for {candidate}: {candidate.stat().st_size:,} bytes, expected {file.size:,}"
    return None


def resolve_weight(file: WeightFile, *, path: str | os.PathLike | None = None,
                   weights_dir: str | os.PathLike | None = None,
                   cache_dir: str | os.PathLike | None = None, allow_download: bool = True,
                   progress: Progress | None = None, timeout: float = 60,
                   mirror: str | None = None, validate: Validate | None = None) -> Path:
    """Return the path of a verified copy of ``file``, downloading it into the cache if needed.

    An explicit ``path`` is taken as is (it must exist; it is not checked against the registry).
    Files in the weights folder or bundled must match the registry's size/SHA-256 when known (and
    :func:`verify_pins` is on). A cached file that does not match is deleted and fetched again (or
    reported when ``allow_download`` is False). Downloads come from :func:`download_url` (``mirror``,
    else ``$RESSHIFT_WEIGHTS_MIRROR``, else the registry's URL).

    validate: called on a fully downloaded (and pin-checked) temporary file before it is renamed
    into the cache. If it raises ValueError (:class:`~resshift.weights.WeightsLoadError` is one),
    the file is deleted, nothing enters the cache and :class:`WeightsUnavailable` says the download
    was not a valid file for this model (its ``__cause__`` is the validator's error); any other
    exception also deletes the file and propagates unchanged. Files already on disk are not
    validated here (their loader checks them).

    Raises :class:`WeightsUnavailable` with one clear message naming the file, the URL tried and
    where to put the file by hand.
    """
    wdir, cdir = weights_folder(weights_dir), _cache_dir(cache_dir)
    url = download_url(file, mirror)

    def unavailable(reason: str) -> WeightsUnavailable:
        return WeightsUnavailable(file, reason, weights_dir=wdir, cache_dir=cdir, url=url)

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
                refetch = " (downloads are off)" if status == "cached" else ""
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
        raise unavailable("it is not on disk and downloads are off (offline: --offline, RESSHIFT_OFFLINE=1, "
                          "or allow_download=False in the library)")
    assert url is not None  # file.url is set
    if url != file.url and not url.lower().startswith(("http://", "https://")):
        raise unavailable(f"the weights mirror {url.rsplit('/', 1)[0]!r} (--weights-mirror or "
                          f"${ENV_MIRROR}) is not an http:// or https:// URL; for a local folder "
                          f"use ${ENV_WEIGHTS_DIR}")
    target = cdir / file.filename
    with _lock_for(target):
        if target.is_file():  # another thread fetched it while we waited
            try:
                _check(file, target)
                return target
            except _Mismatch:
                target.unlink(missing_ok=True)
        try:
            _download(file, url, target, progress=progress, timeout=timeout, validate=validate)
        except _Invalid as err:
            raise unavailable(f"the file downloaded from {url} is not a valid {file.filename} "
                              f"for this model ({err}); nothing was saved") from err.__cause__
        except _Stalled as err:
            raise unavailable(str(err)) from None
        except (_Mismatch, OSError, http.client.HTTPException) as err:
            raise unavailable(_describe(err, min(timeout, STALL_WINDOW_S))) from err
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


def _read_some(resp) -> bytes:
    """The bytes that have arrived, up to CHUNK (at least one; b'' at the end): ``read(CHUNK)``
    would wait for a whole chunk, however slowly it drips."""
    read1 = getattr(resp, "read1", None)
    return read1(CHUNK) if read1 is not None else resp.read(CHUNK)


def _download(file: WeightFile, url: str, target: Path, *, progress: Progress | None,
              timeout: float, validate: Validate | None) -> None:
    """Fetch ``url`` to ``target`` atomically; raise on any error, leaving no temp file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    logger.info("downloading %s from %s", file.filename, url)
    # the temporary name ends in the file's own suffix: a validator reads .safetensors by its name
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{file.filename}.",
                                    suffix=".part" + Path(file.filename).suffix)
    tmp = Path(tmp_name)
    try:
        if gdrive.is_drive_url(url):  # Drive's confirmation and quota pages: gdown follows them
            with os.fdopen(fd, "w+b") as out:
                done, sha256 = gdrive.fetch(url, out, timeout=min(timeout, STALL_WINDOW_S), progress=progress,
                                            stall_window=STALL_WINDOW_S, stall_min_bytes=STALL_MIN_BYTES)
                os.fsync(out.fileno())
            _finish(file, tmp, target, done, sha256, validate)
            return
        # a silent connection ends after the stall window at most (a slow one is judged per window)
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=min(timeout, STALL_WINDOW_S)) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length is not None else file.size
            digest = hashlib.sha256()
            done, logged_tenths = 0, 0
            window_start, window_done = time.monotonic(), 0
            if progress is not None:
                progress(0, total)
            while block := _read_some(resp):
                out.write(block)
                digest.update(block)
                done += len(block)
                now = time.monotonic()
                if now - window_start >= STALL_WINDOW_S:
                    if done - window_done < STALL_MIN_BYTES:
                        raise _Stalled(
                            f"the download from {url} made too little progress ({done - window_done:,} bytes in "
                            f"{now - window_start:.0f} s; at least {STALL_MIN_BYTES >> 10} KiB every "
                            f"{STALL_WINDOW_S:g} s is needed) and was stopped after {done:,} bytes; nothing was "
                            "saved. Try again later, or another mirror")
                    window_start, window_done = now, done
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
        _finish(file, tmp, target, done, digest.hexdigest(), validate)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _finish(file: WeightFile, tmp: Path, target: Path, done: int, sha256: str, validate: Validate | None) -> None:
    """Check a complete download in ``tmp`` (pins, then ``validate``) and rename it onto ``target``."""
    if verify_pins():
        if file.size is not None and done != file.size:
            raise _Mismatch(f"size mismatch: downloaded {done} bytes, expected {file.size}")
        if file.sha256 is not None and sha256 != file.sha256.lower():
            raise _Mismatch(f"SHA-256 mismatch: downloaded {sha256}, expected {file.sha256}")
    if validate is not None:
        try:
            validate(tmp)
        except ValueError as err:  # the validator names the temporary file: name the download
            raise _Invalid(str(err).replace(str(tmp), f"the downloaded {file.filename}")) from err
    os.replace(tmp, target)
    logger.info("saved %s (%d bytes)", target, done)
