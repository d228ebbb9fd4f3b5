"""glibc's allocator, set for large tensors (process-wide, so called by the entry points).

By default glibc maps every block over 32 MiB afresh from the kernel and unmaps it when freed, so
each large CPU tensor (a 1024x1024 latent of 48 channels is 200 MB) pays a page fault per 4 KiB
page every time it is made; threads other than the main one also get their own arenas, whose
heaps cannot hold such blocks at all. With blocks of up to 1 GiB kept in the heap and one arena,
freed tensors are reused instead (2-core EPYC, torch 2.14.1: lite-sr 256->1024 0.64 -> 0.56 s and
85 000 -> 300 page faults, the official architecture's 64->256 4.36 -> 3.77 s;
benchmarks/RESULTS.md, benchmarks/cpu_bound.py). The price: up to 1 GiB of freed memory stays
with the process between requests.

``app.py``, the CLI and the benchmark call :func:`tune_malloc`; library users may call it too.
``RESSHIFT_MALLOC=default`` in the environment leaves glibc's defaults.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import logging

from ..settings import settings

log = logging.getLogger(__name__)

# mallopt parameters (malloc.h)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_ARENA_MAX = -1, -3, -8
KEEP = 1 << 30  # blocks up to this size come from (and return to) the heap


def tune_malloc() -> bool:
    """Keep blocks of up to 1 GiB in one heap (glibc only). True when the settings were applied."""
    if not settings().tune_malloc:
        return False
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):  # not glibc (macOS, musl without mallopt): nothing to do
        mallopt = None
    if mallopt is None:  # (Windows has no C library to find)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = all(mallopt(param, value) == 1 for param, value in
               ((M_MMAP_THRESHOLD, KEEP), (M_TRIM_THRESHOLD, KEEP), (M_ARENA_MAX, 1)))
    if not done:
        log.warning("glibc refused the malloc settings for large tensors; keeping its defaults")
    return done
