"""Handlers whose runs stop when their request is cancelled.

Gradio runs a plain (sync) handler in a worker thread. When a client cancels the request (the page's
Stop, ``gradio_client``'s ``job.cancel()``), Gradio cancels the event's asyncio task and frees its
concurrency slot at once, but the thread runs on: the run finishes and writes its result, and the
next request starts beside it. :func:`cancellable` turns a handler into an async one that runs the
work in a thread with a :class:`~resshift.runtime.progress.CancelToken`; on cancellation it sets the
token, waits until the run has stopped at its next sampling step or tile (the library checks the
token there), and only then lets the cancellation through, so the next request waits for the
cancelled one to stop and nothing of it is written. The token reaches the job runner through
:data:`CURRENT` (a context variable, copied into the worker thread).

A client that goes away (the page closed, the client process killed, ``Client.close()``) cancels
nothing itself: Gradio only marks its event as no longer wanted and lets the run go on. So each
running token is registered under its session, and :func:`cancel_session`, called when the
session ends (``demo.unload``, i.e. when Gradio's heartbeat connection drops), sets them: the run
stops at its next step, tile or download chunk as on Stop, and the worker is free for the next
request. A request the gone client left in the queue is cancelled as soon as its turn comes.
"""
from __future__ import annotations

import asyncio
import collections
import contextvars
import functools
import logging
import threading
from typing import Any, Callable

from resshift.runtime.progress import CancelToken

from studio.input_files import current_session

log = logging.getLogger(__name__)

CURRENT: contextvars.ContextVar[CancelToken | None] = contextvars.ContextVar("resshift_cancel", default=None)
_RUNNING: dict[str, set[CancelToken]] = {}  # session hash -> tokens of its runs in progress
_ENDED: collections.OrderedDict[str, None] = collections.OrderedDict()  # sessions gone, newest last
_ENDED_KEPT = 10_000
_RUNNING_LOCK = threading.Lock()


def cancel_session(session_hash: str | None) -> int:
    """Stop every run of ``session_hash`` (its client is gone); returns how many were running."""
    if not session_hash:
        return 0
    with _RUNNING_LOCK:
        tokens = _RUNNING.pop(session_hash, set())
        _ENDED[session_hash] = None  # its requests still queued stop as soon as they start
        while len(_ENDED) > _ENDED_KEPT:
            _ENDED.popitem(last=False)
    for token in tokens:
        token.cancel()
    if tokens:
        log.info("stopping %d run(s) of a client that went away", len(tokens))
    return len(tokens)


def running_sessions() -> int:
    """How many sessions have runs in progress (for tests and operators)."""
    with _RUNNING_LOCK:
        return len(_RUNNING)


def current_token() -> CancelToken:
    """The running request's token (a fresh one outside a cancellable handler)."""
    return CURRENT.get() or CancelToken()


def cancellable(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` as an async Gradio handler that stops its run when the request is cancelled (same
    name, docstring and parameters, so the API and the MCP tools see the same endpoint)."""

    @functools.wraps(fn)
    async def handler(*args: Any, **kwargs: Any) -> Any:
        token, session = CancelToken(), current_session()

        def work() -> Any:
            CURRENT.set(token)
            return fn(*args, **kwargs)

        if session is not None:
            with _RUNNING_LOCK:
                if session in _ENDED:
                    token.cancel()  # queued by a client that has gone since: stop at once
                else:
                    _RUNNING.setdefault(session, set()).add(token)
        task = asyncio.ensure_future(asyncio.to_thread(work))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            token.cancel()
            await asyncio.wait({task})  # the run stops at its next step or tile; then let go
            if not task.cancelled():
                task.exception()  # its end (the run's Cancelled) is expected: mark it seen
            raise
        finally:
            if session is not None:
                with _RUNNING_LOCK:
                    tokens = _RUNNING.get(session)
                    if tokens is not None:
                        tokens.discard(token)
                        if not tokens:
                            del _RUNNING[session]

    return handler
