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
          cancel: threading.Event | None = None) -> tuple[int, str]:
    """Write the Drive file at ``url`` to ``out``: (bytes written, their SHA-256).

    Raises :class:`DriveError` saying what Drive answered (its quota page, a missing file, a web
    page instead of the file, no connection)."""
    import gdown
    import requests
    from gdown.exceptions import DownloadCancelled, DownloadError

    digest = hashlib.sha256()
    start = out.tell()
    try:
        gdown.download(url=url, output=out, quiet=True, progress=progress, timeout=timeout, cancel=cancel,
                       use_cookies=False, hasher=digest)
    except DownloadCancelled:
        raise
    except DownloadError as err:  # FileURLRetrievalError among them: Drive's page named no file
        reason = " ".join(str(err).split())
        raise DriveError(f"Google Drive did not give the file ({_short(reason)})") from err
    except requests.HTTPError as err:
        raise DriveError(f"Google Drive answered HTTP {err.response.status_code if err.response is not None else '?'}") from err
    except requests.Timeout as err:
        raise DriveError(f"no answer from Google Drive within {timeout:g} s (offline?)") from err
    except requests.ConnectionError as err:
        raise DriveError(f"could not connect to Google Drive (offline?): {_short(str(err))}") from err
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
