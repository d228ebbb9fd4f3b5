"""Reasons for the MCP requests the server refuses before any tool runs.

Two refusals reached MCP clients without a reason:

- a body over the MCP transport's limit (4 MiB, ``mcp``'s ``DEFAULT_MAX_REQUEST_BODY_SIZE``: an
  image sent as a data URI of a ~3 MB file) is answered ``413 Request body too large``, which
  clients raise as an HTTP error, their request unanswered;
- an image URL that points to this machine or a private network is refused by Gradio's SSRF
  guard while it prepares the inputs, and clients get Gradio's hidden-error text.

:class:`McpRefusals`, an ASGI middleware in front of ``/gradio_api/mcp/``, answers both as the
JSON-RPC response to the request (its ``id``; HTTP 200), a tool error whose text says what was
refused and what to send instead. The rule on addresses stays Gradio's
(``processing_utils.is_public_ip``); nothing is fetched here. A body too large is read to its
end (up to ``MAX_READ_BYTES``) only to find its ``id``, keeping its first and last few kB.
"""
from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import socket
from typing import Any
from urllib.parse import urlsplit

from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

MCP_PATH = "/gradio_api/mcp"
MAX_BODY_BYTES = 4 << 20  # the MCP transport's limit (mcp.server.transport_security)
MAX_READ_BYTES = 64 << 20  # a larger body is not read for its id: plain 413
EDGE_BYTES = 4096  # kept from each end of a body too large, where its "id" is
RESOLVE_TIMEOUT_S = 2.0
_ID = re.compile(rb'"id"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+)')


class McpRefusals:
    """ASGI middleware: MCP requests refused with a reason (module docstring)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or MCP_PATH not in scope["path"]:
            await self.app(scope, receive, send)
            return
        length = _content_length(scope)
        if length is not None and length > MAX_BODY_BYTES:
            await self._too_large(scope, receive, send, length)
            return
        messages, body = await _read(receive, MAX_BODY_BYTES)
        if body is not None:
            refusal = await _private_url(body)
            if refusal is not None:
                request_id, text = refusal
                log.warning("MCP request refused: %s", text)
                await JSONResponse(_tool_error(request_id, text))(scope, receive, send)
                return
        await self.app(scope, _replay(messages, receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, length: int) -> None:
        text = (f"This MCP request is {length / (1 << 20):.1f} MB; this server takes MCP requests up to "
                f"{MAX_BODY_BYTES >> 20} MB. Send the image as a public http(s) URL instead of a data URI, or "
                "as a smaller image (a PNG or JPEG of a few hundred kB).")
        if length > MAX_READ_BYTES:
            await PlainTextResponse(text, status_code=413)(scope, receive, send)
            return
        head, tail, more = b"", b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            if len(head) < EDGE_BYTES:
                head += chunk[:EDGE_BYTES - len(head)]
            tail = (tail + chunk)[-EDGE_BYTES:]
            more = message.get("more_body", False)
        found = _ID.search(head) or _ID.search(tail)
        if found is None:
            await PlainTextResponse(text, status_code=413)(scope, receive, send)
            return
        log.warning("MCP request refused: %s", text)
        await JSONResponse(_tool_error(json.loads(found.group(1)), text))(scope, receive, send)


async def _private_url(body: bytes) -> tuple[Any, str] | None:
    """(request id, sentence) when a tool call's arguments hold an http(s) URL whose host is this
    machine or a private network (by Gradio's rule), else None."""
    try:
        request = json.loads(body)
    except ValueError:
        return None
    if not isinstance(request, dict) or request.get("method") != "tools/call":
        return None
    arguments = (request.get("params") or {}).get("arguments") or {}
    if not isinstance(arguments, dict):
        return None
    for name, value in arguments.items():
        if not (isinstance(value, str) and value.lower().startswith(("http://", "https://"))):
            continue
        address = await _local_address(value)
        if address is not None:
            return request.get("id"), (
                f"The {name} URL {value[:200]} points to {address}, an address on this server's own machine or a "
                "private network; this server fetches only public http(s) URLs, so it fetched nothing. Send the "
                "image from a public address, or as a data URI (data:image/png;base64,...).")
    return None


async def _local_address(url: str) -> str | None:
    """The first address of ``url``'s host that Gradio would not fetch from (None: all public, or
    the name does not resolve: Gradio's own guard then decides)."""
    from gradio.processing_utils import is_public_ip

    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    if not host:
        return None
    try:
        infos = await asyncio.wait_for(asyncio.to_thread(socket.getaddrinfo, host, None), RESOLVE_TIMEOUT_S)
    except (OSError, asyncio.TimeoutError, UnicodeError):
        return None
    for info in infos:
        ip = info[4][0]
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            continue
        if not is_public_ip(ip):
            return ip
    return None


def _tool_error(request_id: Any, text: str) -> dict:
    return {"jsonrpc": "2.0", "id": request_id,
            "result": {"content": [{"type": "text", "text": text}], "isError": True}}


async def _read(receive: Receive, limit: int) -> tuple[list[Message], bytes | None]:
    """The request's messages, and its body when it ended within ``limit`` bytes."""
    messages, size, more = [], 0, True
    while more:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            return messages, None
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
        if size > limit:
            return messages, None
    return messages, b"".join(m.get("body", b"") for m in messages)


def _replay(messages: list[Message], then: Receive) -> Receive:
    pending = list(messages)

    async def receive() -> Message:
        return pending.pop(0) if pending else await then()

    return receive


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
