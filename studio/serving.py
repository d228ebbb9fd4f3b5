"""Keeping the page and the API responsive while the worker is busy (used by ``app.serve``/``main``).

A run holds the only worker, but connections are served by other threads of the same process:
the page (``/``, which copies and renders the whole config), ``/config`` and ``/gradio_api/info``
(which clients such as gradio_client fetch when they connect) are plain functions that Gradio
runs in a thread pool. They compete with the run for the GIL: a thread that holds it keeps the
others waiting for the 5 ms switch interval at every hand-over, and the per-tile and per-step
Python of a run holds it often. Measured on a 2-core CPU with a pure-Python job running, 30
concurrent GETs took 0.74 s median for ``/gradio_api/info`` and 1.76 s for ``/`` (up to 2.95 s);
with a 0.5 ms switch interval 0.23 s and 0.18 s (/work/notes/gradio_research.md, section 4).
So the server:

- switches threads every :data:`SWITCH_INTERVAL_S` (``sys.setswitchinterval``; the cost is a
  little more switching overhead in a Python-heavy run);
- leaves one core to the connections: PyTorch's intra-op threads = cores - 1 (``main`` only: a
  process that embeds the studio keeps its own setting);
- computes Gradio's analytics summary (a pandas table over up to 10,000 recorded events) every
  :data:`ANALYTICS_EVERY` events instead of after every one;
- fetches ``/gradio_api/info`` once at start: Gradio builds it on the first request and keeps
  it, so the first burst of clients does not build it 30 times over. (The code snippets in that
  kept description name the address it was first fetched from, here the local one; clients read
  only its parameters.)

Measured with the studio (tiny models) on a shared 2-core machine at load 10-12, 30 clients
connecting at once while a run held the worker all connected, before and after these settings
(2.7-3.9 s median); the settings matter where a run keeps every core busy.
"""
from __future__ import annotations

import logging
import os
import sys

import httpx

log = logging.getLogger(__name__)

SWITCH_INTERVAL_S = 0.0005
ANALYTICS_EVERY = 50


def tune_threads() -> None:
    """The thread switch interval (for every server); see the module docstring."""
    sys.setswitchinterval(SWITCH_INTERVAL_S)


def tune_process() -> None:
    """What ``main`` sets for a process that only serves the studio: PyTorch's intra-op threads
    (cores - 1, at least 1) and Gradio's analytics frequency (unless set in the environment;
    read when the queue is made, so call this before building the app)."""
    cores = os.cpu_count() or 1
    import torch

    torch.set_num_threads(max(1, cores - 1))
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(ANALYTICS_EVERY))
    log.info("serving with %d PyTorch threads of %d cores", torch.get_num_threads(), cores)


def warm_up(url: str, timeout: float = 120.0) -> None:
    """Have the running server build and keep its API description (``/gradio_api/info``)."""
    response = httpx.get(url.rstrip("/") + "/gradio_api/info", timeout=timeout)
    response.raise_for_status()
