"""Bounds on what clients may upload: a per-client rate and a cap on Gradio's temp folder.

``POST /gradio_api/upload`` stores any file up to the size limit (``max_file_size``) in Gradio's
temp folder, with no request attached, and Gradio deletes nothing there for an hour: 20 uploads
of 20 MB took 362 MB of disk in 17 s. :class:`UploadGate`, an ASGI middleware passed to
``demo.launch(app_kwargs={"middleware": ...})`` (``app.launch_kwargs``), refuses, before any byte
of the body is read:

- an upload over the client's rate: ``Limits.uploads_per_minute`` uploads and
  ``Limits.upload_bytes_per_minute`` bytes in any 60 s (HTTP 429, with ``Retry-After``);
- an upload that would take the temp folder (uploads and results) over ``Limits.max_temp_bytes``
  (HTTP 507);
- an upload that does not state its size (HTTP 411; browsers and gradio_client always do).

Each refusal is a sentence in the response body. A client is its IP address as the server sees
it: behind a reverse proxy, start the server with uvicorn's ``FORWARDED_ALLOW_IPS`` set to the
proxy's address so that the address it forwards is used (otherwise all clients share one rate).
Removing a request's input files once it is done is ``input_files.py``'s part.
"""
from __future__ import annotations

import collections
import logging
import os
import threading
import time
from pathlib import Path
from typing import Callable

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from .limits import Limits

log = logging.getLogger(__name__)

WINDOW_S = 60.0
UPLOAD_PATH = "/gradio_api/upload"
SIZE_REFRESH_S = 2.0  # the folder is measured again at most this often (uploads since are added)


def folder_bytes(folder: str | Path) -> int:
    """Bytes of the regular files under ``folder`` (0 when it does not exist; files that vanish
    while it is walked are skipped)."""
    total = 0
    stack = [str(folder)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except FileNotFoundError:
                continue
    return total


def _mb(n: float) -> str:
    return f"{n / (1 << 20):.0f} MB"


class UploadGate:
    """ASGI middleware: refuses uploads over a client's rate or over the temp folder's cap (module
    docstring). ``folder``: the folder to measure (default: Gradio's upload folder, read per
    check, as ``GRADIO_TEMP_DIR`` may be set after import); ``clock``: seconds (tests)."""

    def __init__(self, app: ASGIApp, limits: Limits, folder: Callable[[], str] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.app = app
        self.limits = limits
        self.folder = folder or _gradio_upload_folder
        self.clock = clock
        self._clients: dict[str, collections.deque[tuple[float, int]]] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()
        self._measured: tuple[float, str, int] | None = None  # (when, folder, bytes)
        self._since = 0  # bytes of uploads let through since the folder was measured

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].rstrip("/").endswith(UPLOAD_PATH):
            refusal = self.check(scope)
            if refusal is not None:
                status, text, headers = refusal
                log.warning("upload refused (%d) for %s: %s", status, _client(scope), text)
                await PlainTextResponse(text, status_code=status, headers=headers)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def check(self, scope: Scope) -> tuple[int, str, dict[str, str]] | None:
        """None to let the upload through (and count it), else (status, sentence, headers)."""
        length = _content_length(scope)
        if length is None:
            return 411, ("This upload does not state its size (no Content-Length header); send the file "
                         "as a regular multipart upload."), {}
        limits, now, client = self.limits, self.clock(), _client(scope)
        with self._lock:
            sent = self._clients[client]
            while sent and now - sent[0][0] >= WINDOW_S:
                sent.popleft()
            count, volume = len(sent), sum(size for _, size in sent)
            if count + 1 > limits.uploads_per_minute or volume + length > limits.upload_bytes_per_minute:
                wait = max(1, int(WINDOW_S - (now - sent[0][0])) + 1) if sent else int(WINDOW_S)
                return 429, (f"Too many uploads from this address: this server takes up to "
                             f"{limits.uploads_per_minute} uploads and {_mb(limits.upload_bytes_per_minute)} "
                             f"a minute from one client ({count} uploads, {_mb(volume)} in the last minute). "
                             f"Try again in {wait} s (whoever runs the studio can change this with "
                             "RESSHIFT_UPLOADS_PER_MINUTE and RESSHIFT_UPLOAD_MB_PER_MINUTE)."), \
                    {"Retry-After": str(wait)}
            if limits.max_temp_bytes is not None:
                used = self._used(now)
                if used + length > limits.max_temp_bytes:
                    return 507, (f"The server's space for uploads is full ({_mb(used)} of "
                                 f"{_mb(limits.max_temp_bytes)} in use by uploads and results). Uploads and "
                                 "results are removed when the requests that use them are done and after an "
                                 "hour at most; try again in a few minutes (whoever runs the studio can "
                                 "change this with RESSHIFT_MAX_TEMP_MB)."), {"Retry-After": "300"}
            sent.append((now, length))
            self._since += length
            if len(self._clients) > 10_000:  # forget clients whose minute has passed
                for key in [k for k, q in self._clients.items() if not q or now - q[-1][0] >= WINDOW_S]:
                    del self._clients[key]
        return None

    def _used(self, now: float) -> int:
        """Bytes in the folder: measured at most every SIZE_REFRESH_S, plus uploads let through since
        (an over-estimate while Gradio deletes, never an under-estimate)."""
        folder = self.folder()
        measured = self._measured
        if measured is None or measured[1] != folder or now - measured[0] >= SIZE_REFRESH_S:
            self._measured = measured = (now, folder, folder_bytes(folder))
            self._since = 0
        return measured[2] + self._since


def _gradio_upload_folder() -> str:
    from gradio.utils import get_upload_folder

    return get_upload_folder()


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return max(0, int(value))
            except ValueError:
                return None
    return None


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"
