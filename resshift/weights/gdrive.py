"""Weight files published on Google Drive only (RSD's), fetched with gdown.

Drive answers a large file with a confirmation page (a virus-scan warning with a form) before the
file itself, and with a page instead of the file when its download quota is used up; gdown is the
well-kept library that follows those pages, so it does the transfer here. The caller
(:func:`resshift.weights.download.resolve_weight`) keeps its own rules: a temporary file in the
cache, the layout check, then the rename.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import BinaryIO, Callable

log = logging.getLogger(__name__)

_HTML_STARTS = (b"<!doctype html", b"<html")  # compared with the file's first bytes, lowercased


class DriveError(OSError):
    """Google Drive did not give the file; the message is a sentence for a person."""


def is_drive_url(url: str) -> bool:
    """True for a Google Drive (or Docs) URL, which :func:`fetch` serves."""
    from gdown.parse_url import is_google_drive_url

    return is_google_drive_url(url)


def fetch(url: str, out: BinaryIO, *, timeout: float, progress: Callable[[int, int | None], None] | None = None,
          stall_window: float, stall_min_bytes: int) -> tuple[int, str]:
    """Write the Drive file at ``url`` to ``out``: (bytes written, their SHA-256).

    A transfer that brings under ``stall_min_bytes`` in a window of ``stall_window`` seconds is
    stopped (the rule of every download, ``download.py``): a watchdog sets gdown's own cancel
    event, which its reads check every 50 ms, so a dripping connection cannot hold the download.
    Raises :class:`DriveError` saying what Drive answered (its quota page, a missing file, a web
    page instead of the file, no connection, too little progress)."""
    import gdown
    import requests
    from gdown.exceptions import DownloadCancelled, DownloadError

    digest = hashlib.sha256()
    start = out.tell()
    received, stalled = 0, []
    finished, cancel = threading.Event(), threading.Event()

    def on_chunk(done: int, total: int | None) -> None:
        nonlocal received
        received = done
        if progress is not None:
            progress(done, total)

    def watch() -> None:
        mark, window_start = 0, time.monotonic()
        while not finished.wait(min(0.5, stall_window)):
            if time.monotonic() - window_start >= stall_window:
                if received - mark < stall_min_bytes:
                    stalled.append(received - mark)
                    cancel.set()
                    return
                mark, window_start = received, time.monotonic()

    watchdog = threading.Thread(target=watch, name="resshift-drive-stall", daemon=True)
    watchdog.start()
    try:
        gdown.download(url=url, output=out, quiet=True, progress=on_chunk, timeout=timeout, cancel=cancel,
                       use_cookies=False, hasher=digest)
    except DownloadCancelled as err:
        raise DriveError(f"the download from Google Drive ({url}) made too little progress ({stalled[0]:,} bytes in "
                         f"{stall_window:g} s; at least {stall_min_bytes >> 10} KiB every {stall_window:g} s is "
                         f"needed) and was stopped after {received:,} bytes") from err
    except DownloadError as err:  # FileURLRetrievalError among them: Drive's page named no file
        reason = " ".join(str(err).split())
        raise DriveError(f"Google Drive did not give the file ({_short(reason)})") from err
    except requests.HTTPError as err:
        raise DriveError(f"Google Drive answered HTTP {err.response.status_code if err.response is not None else '?'}") from err
    except requests.Timeout as err:
        raise DriveError(f"no answer from Google Drive within {timeout:g} s (offline?)") from err
    except requests.ConnectionError as err:
        raise DriveError(f"could not connect to Google Drive (offline?): {_short(str(err))}") from err
    finally:
        finished.set()
    done = out.tell() - start
    out.flush()
    out.seek(start)
    head = out.read(64).lstrip().lower()  # type: ignore[attr-defined]
    out.seek(start + done)
    if head.startswith(_HTML_STARTS):
        raise DriveError("Google Drive answered with a web page instead of the file (its download quota may be "
                         "used up for today: try again later, or download it in a browser)")
    return done, digest.hexdigest()


def _short(text: str, limit: int = 200) -> str:
    """The first sentence-ish part of a long library message."""
    text = text.replace("Failed to retrieve file url:", "").strip()
    return text if len(text) <= limit else text[:limit].rstrip() + "..."
