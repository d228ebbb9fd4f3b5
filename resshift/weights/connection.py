"""Whether this machine can reach the host weight files download from: one short TCP connect (no
request, nothing downloaded), so a server without a connection says so instead of offering models
that cannot be had. :class:`~resshift.manager.ModelManager` owns the answer (``no_connection``)."""
from __future__ import annotations

import http.client
import socket
import urllib.error
import urllib.parse

PROBE_TIMEOUT = 2.5
"""Seconds the start-up probe waits for the weights host to answer."""


def host_of(url: str) -> tuple[str, int]:
    """(host, port) of an http(s) URL (port 443 or 80 when the URL names none)."""
    parts = urllib.parse.urlsplit(url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def reachable(url: str, timeout: float = PROBE_TIMEOUT) -> bool:
    """True when a TCP connection to ``url``'s host and port opens within ``timeout`` seconds."""
    host, port = host_of(url)
    if not host:
        return False
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:  # refused, unreachable, no DNS, timed out
        return False


def is_connection_failure(err: BaseException | None) -> bool:
    """True for a download that failed because the host could not be reached at all (no DNS, refused,
    no route, no answer): not for an HTTP status or a transfer cut short."""
    if isinstance(err, urllib.error.HTTPError) or isinstance(err, http.client.HTTPException):
        return False
    if isinstance(err, urllib.error.URLError):
        return isinstance(err.reason, (OSError, str)) and not isinstance(err.reason, ConnectionResetError)
    return isinstance(err, (socket.gaierror, ConnectionRefusedError))
