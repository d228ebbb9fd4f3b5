"""Bounds on what clients may upload: a per-client rate, a per-client share and a cap on Gradio's
temp folder; and the record of who uploaded what.

``POST /gradio_api/upload`` stores any file up to the size limit (``max_file_size``) in Gradio's
temp folder, with no request attached, and Gradio deletes nothing there for an hour: 20 uploads
of 20 MB took 362 MB of disk in 17 s. :class:`UploadGate`, an ASGI middleware passed to
``demo.launch(app_kwargs={"middleware": ...})`` (``app.launch_kwargs``), refuses, before any byte
of the body is read:

- an upload over the client's rate: ``Limits.uploads_per_minute`` uploads and
  ``Limits.upload_bytes_per_minute`` bytes in any 60 s (HTTP 429, with ``Retry-After``);
- an upload that would take the client's uploads still on disk over its share of the folder,
  ``Limits.client_temp_bytes`` (HTTP 507), so one client fills only its own share;
- an upload that would take the temp folder (uploads and results) over ``Limits.max_temp_bytes``
  (HTTP 507);
- an upload that does not state its size, or is sent chunked (HTTP 411; browsers and
  gradio_client send a Content-Length and no Transfer-Encoding).

It also gives each client a fair share of the queue: a request that would join the queue while
its client already has ``Limits.queue_per_client`` requests waiting is refused (HTTP 429, with
the sentence as ``detail``), so one client cannot fill the places everyone shares.

The body is counted as it arrives: one that runs past its Content-Length is cut off (HTTP 400).
Each refusal is a sentence in the response body. The files an upload stored are recorded in the
upload ledger (uploads.py) with its client; a request that joins the queue (or calls the API)
pins the uploads of its client that it sends to its session (input_files.py), and uploads that no
request uses are removed after ``Limits.unused_upload_s`` (swept at each upload).

A client is its IP address as the server sees it. Forwarded headers (``X-Forwarded-For``) are
trusted only from the addresses the operator names (``Limits.trusted_proxies``:
``--trusted-proxies`` or ``RESSHIFT_TRUSTED_PROXIES``; :func:`trust_proxies` hands them to
uvicorn, which otherwise trusts 127.0.0.1): behind a reverse proxy, name the proxy's address so
that the address it forwards is used (otherwise all clients share one rate and one share).
"""
from __future__ import annotations

import collections
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from studio.limits import Limits

if TYPE_CHECKING:
    from studio.input_files import InputFiles

log = logging.getLogger(__name__)

WINDOW_S = 60.0
UPLOAD_PATH = "/gradio_api/upload"
REQUEST_PATHS = ("/gradio_api/queue/join", "/gradio_api/call/", "/gradio_api/run/")  # requests that send files
MAX_REQUEST_BYTES = 1 << 20  # a request body read for the uploads it sends (larger ones pass unread)
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
    """ASGI middleware: refuses uploads over a client's rate, its share of the temp folder or the
    folder's cap, records who uploaded what, and pins the uploads a queued request sends (module
    docstring). ``inputs``: the studio's input files (their upload ledger; None: no ledger, no
    sweeping); ``folder``: the folder to measure (default: Gradio's upload folder, read per check,
    as ``GRADIO_TEMP_DIR`` may be set after import); ``clock``: seconds (tests)."""

    def __init__(self, app: ASGIApp, limits: Limits, inputs: "InputFiles | None" = None,
                 folder: Callable[[], str] | None = None, clock: Callable[[], float] = time.monotonic):
        self.app = app
        self.limits = limits
        self.inputs = inputs
        self.folder = folder or _gradio_upload_folder
        self.clock = clock
        self._clients: dict[str, collections.deque[list]] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()
        self._measured: tuple[float, str, int] | None = None  # (when, folder, bytes)
        self._since = 0  # bytes of uploads let through since the folder was measured

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        path = scope["path"].rstrip("/")
        if path.endswith(UPLOAD_PATH):
            await self._upload(scope, receive, send)
        elif any(part in path for part in REQUEST_PATHS):
            await self._request(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _upload(self, scope: Scope, receive: Receive, send: Send) -> None:
        """An upload: refused with a sentence, or let through with its body counted as it arrives
        (a body longer than it declared is cut off) and its files recorded in the ledger."""
        if self.inputs is not None and self.limits.unused_upload_s is not None:
            self.inputs.sweep(self.limits.unused_upload_s)
        refusal = self.check(scope)
        client = _client(scope)
        if refusal is not None:
            status, text, headers = refusal
            log.warning("upload refused (%d) for %s: %s", status, client, text)
            await PlainTextResponse(text, status_code=status, headers=headers)(scope, receive, send)
            return
        declared, received, cut = _content_length(scope) or 0, 0, []
        answer: dict = {"status": 0, "body": b""}

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > declared:  # e.g. a chunked body under a small Content-Length
                    cut.append(received)
                    return {"type": "http.disconnect"}
            return message

        async def noted(message: Message) -> None:
            if cut:
                return  # the gate answers instead
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
            elif message["type"] == "http.response.body" and answer["status"] == 200:
                answer["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, counted, noted)
        except Exception:
            if not cut:
                raise
        if cut:
            text = (f"This upload sent more bytes than its Content-Length header stated ({declared}); it was "
                    "stopped. Send the file as a regular multipart upload.")
            log.warning("upload cut off for %s: over %d declared bytes", client, declared)
            await PlainTextResponse(text, status_code=400)(scope, receive, send)
            return
        if answer["status"] == 200 and self.inputs is not None:
            try:
                paths = json.loads(answer["body"])
            except ValueError:
                paths = []
            self.inputs.uploads.record(client, [p for p in paths if isinstance(p, str)])

    async def _request(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A request that may send uploaded files (a queue join, an API call): the files its
        client uploaded are pinned to its session until a handler holds them or the session ends.
        The body is read here (up to MAX_REQUEST_BYTES; larger ones pass unread) and replayed.
        A request that would queue is refused (HTTP 429) when its client already has its share of
        the queue waiting (``Limits.queue_per_client``)."""
        if "/run/" not in scope["path"]:
            refusal = self.check_queue(scope)
            if refusal is not None:
                log.warning("queue refused for %s: %s", _client(scope), refusal)
                await JSONResponse({"detail": refusal}, status_code=429, headers={"Retry-After": "30"})(
                    scope, receive, send)
                return
        if self.inputs is None:
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is None or length > MAX_REQUEST_BYTES:
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message]), send)
                return
            chunks.append(message)
            more = message.get("more_body", False)
        body = b"".join(m.get("body", b"") for m in chunks)
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if isinstance(data, dict):
            self.inputs.pin(data.get("session_hash"), _client(scope), _strings(data.get("data")))
        await self.app(scope, _replay(chunks, receive), send)

    def check_queue(self, scope: Scope) -> str | None:
        """None when the client may queue one more request, else the sentence refusing it. Counted
        from Gradio's queue itself (its waiting events and the address each came from)."""
        queue = getattr(_blocks(scope), "_queue", None)
        if queue is None:
            return None
        if queue.max_size is not None and len(queue) >= queue.max_size:
            return None  # full for everyone: Gradio says so itself (HTTP 503, "Queue is full")
        client = _client(scope)
        waiting = sum(1 for events in list(queue.event_queue_per_concurrency_id.values())
                      for event in list(events.queue) if _event_client(event) == client)
        share = self.limits.queue_per_client
        if waiting < share:
            return None
        return (f"This address already has {waiting} request{'s' if waiting != 1 else ''} waiting in the queue; "
                f"this server queues up to {share} from one client (of {self.limits.queue_size} places), so "
                "that every visitor gets a turn. Wait for one to finish and try again (whoever runs the studio "
                "can change this with RESSHIFT_QUEUE_PER_CLIENT).")

    def check(self, scope: Scope) -> tuple[int, str, dict[str, str]] | None:
        """None to let the upload through (and count it), else (status, sentence, headers)."""
        length = _content_length(scope)
        if length is None or _header(scope, b"transfer-encoding") is not None:
            return 411, ("This upload does not state its size (a Content-Length header and no "
                         "Transfer-Encoding); send the file as a regular multipart upload."), {}
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
            if self.inputs is not None and limits.client_temp_bytes is not None:
                mine = self.inputs.uploads.client_bytes(client)
                if mine + length > limits.client_temp_bytes:
                    return 507, (f"This address's share of the server's space for uploads is full ({_mb(mine)} "
                                 f"of {_mb(limits.client_temp_bytes)}). Your uploads are removed when the "
                                 "page is closed, and those no request uses after "
                                 f"{_minutes(limits.unused_upload_s)}; try again then (whoever runs the studio "
                                 "can change this with RESSHIFT_CLIENT_TEMP_MB)."), {"Retry-After": "60"}
            if limits.max_temp_bytes is not None:
                used = self._used(now)
                if used + length > limits.max_temp_bytes:
                    return 507, (f"The server's space for uploads is full ({_mb(used)} of "
                                 f"{_mb(limits.max_temp_bytes)} in use by uploads and results). Uploads and "
                                 "results are removed when the requests that use them are done and after an "
                                 "hour at most; try again in a few minutes (whoever runs the studio can "
                                 "change this with RESSHIFT_MAX_TEMP_MB)."), {"Retry-After": "300"}
            sent.append([now, length])
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


def trust_proxies(limits: Limits) -> None:
    """Have the server that is about to start trust forwarded headers (``X-Forwarded-For``) only
    from ``limits.trusted_proxies``. Gradio starts uvicorn without saying whom to trust, and
    uvicorn then reads ``FORWARDED_ALLOW_IPS`` (default 127.0.0.1: any local process, or a client
    reaching a local port, could pick its own address); an empty value trusts nobody."""
    os.environ["FORWARDED_ALLOW_IPS"] = ",".join(limits.trusted_proxies)


def _gradio_upload_folder() -> str:
    from gradio.utils import get_upload_folder

    return get_upload_folder()


def _blocks(scope: Scope) -> Any:
    """The Gradio Blocks served by this app (None outside Gradio)."""
    get_blocks = getattr(scope.get("app"), "get_blocks", None)
    try:
        return get_blocks() if get_blocks is not None else None
    except Exception:  # noqa: BLE001 - not started yet
        return None


def _event_client(event: Any) -> str | None:
    client = getattr(getattr(event, "request", None), "client", None)
    return getattr(client, "host", None)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value
    return None


def _content_length(scope: Scope) -> int | None:
    value = _header(scope, b"content-length")
    try:
        return None if value is None else max(0, int(value))
    except ValueError:
        return None


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "an hour"
    return f"{seconds / 60:g} minute{'s' if seconds != 60 else ''}" if seconds >= 60 else f"{seconds:g} s"


def _strings(value: Any, limit: int = 10_000) -> list[str]:
    """The strings inside a request's data (JSON: lists, objects), at most ``limit`` of them."""
    found, stack = [], [value]
    while stack and len(found) < limit:
        item = stack.pop()
        if isinstance(item, str):
            found.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    """A ``receive`` that gives ``messages`` again, then whatever ``then`` gives."""
    pending = list(messages)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        if then is None:
            return {"type": "http.disconnect"}
        return await then()

    return receive


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"
