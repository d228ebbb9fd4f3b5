"""The library's request errors: one type for "this request cannot run as asked".

:class:`InvalidRequest` is what the seam raises for a request that is wrong (a setting out of
range, an unreadable image, a mask of the wrong size, a model of another task). Its message is a
sentence for a person: the studio and the command line show it as it is, without re-checking.
Weight files that cannot be had or read have their own errors (:mod:`resshift.weights`), and a
run that is stopped raises :class:`~resshift.runtime.progress.Cancelled`.
"""
from __future__ import annotations


class InvalidRequest(ValueError):
    """A request the library refuses; ``str(err)`` says what is wrong and what to do."""


class InvalidRequestType(InvalidRequest, TypeError):
    """A setting of the wrong type (``steps=2.5``); also a TypeError, as Python's own checks."""


class UnknownModelError(InvalidRequest, KeyError):
    """A model name nobody knows; also a KeyError, as a lookup by name."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


def is_out_of_memory(exc: BaseException) -> bool:
    """True for the ways torch reports running out of memory: CUDA's OutOfMemoryError, Python's
    MemoryError, and the CPU allocator's RuntimeError ("can't allocate memory")."""
    if isinstance(exc, MemoryError):
        return True
    try:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return True
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def free_memory() -> None:
    """Give back what a run that ran out of memory left: Python's garbage, then CUDA's cache."""
    import gc

    gc.collect()
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
