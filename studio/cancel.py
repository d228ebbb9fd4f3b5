"""Handlers whose runs stop when their request is cancelled.

Gradio runs a plain (sync) handler in a worker thread. When a client cancels the request (the page's
Stop, ``gradio_client``'s ``job.cancel()``), Gradio cancels the event's asyncio task and frees its
concurrency slot at once, but the thread runs on: the run finishes and writes its result, and the
next request starts beside it. :func:`cancellable` turns a handler into an async one that runs the
work in a thread with a :class:`~resshift.progress.CancelToken`; on cancellation it sets the
token, waits until the run has stopped at its next sampling step or tile (the library checks the
token there), and only then lets the cancellation through, so the next request waits for the
cancelled one to stop and nothing of it is written. The token reaches the job runner through
:data:`CURRENT` (a context variable, copied into the worker thread).
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
from typing import Any, Callable

from resshift.progress import CancelToken

CURRENT: contextvars.ContextVar[CancelToken | None] = contextvars.ContextVar("resshift_cancel", default=None)


def current_token() -> CancelToken:
    """The running request's token (a fresh one outside a cancellable handler)."""
    return CURRENT.get() or CancelToken()


def cancellable(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` as an async Gradio handler that stops its run when the request is cancelled (same
    name, docstring and parameters, so the API and the MCP tools see the same endpoint)."""

    @functools.wraps(fn)
    async def handler(*args: Any, **kwargs: Any) -> Any:
        token = CancelToken()

        def work() -> Any:
            CURRENT.set(token)
            return fn(*args, **kwargs)

        task = asyncio.ensure_future(asyncio.to_thread(work))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            token.cancel()
            await asyncio.wait({task})  # the run stops at its next step or tile; then let go
            if not task.cancelled():
                task.exception()  # its end (the run's Cancelled) is expected: mark it seen
            raise

    return handler
