"""How a run reports where it is, and how it is stopped.

:class:`ProgressEvent` is what every pipeline passes to its ``callback`` after each sampling step
and each tile of each stage (and, for whole photos, each stage of the face pipeline).
:class:`CancelToken` is how a caller stops a run: the pipelines call :meth:`CancelToken.check`
between sampling steps, between tiles, before decoding and between batches of faces, so a
cancelled or timed-out run stops at the next of those points, writes nothing and raises
:class:`Cancelled` (:class:`RequestTimeout` when its deadline passed).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any


class Cancelled(Exception):
    """The run was stopped by its caller before it finished."""


class RequestTimeout(Cancelled):
    """The run went past its deadline."""

    def __init__(self, limit: float):
        self.limit = limit
        super().__init__(f"stopped after the server's limit of {limit:.0f} seconds per request")


class CancelToken:
    """A flag a caller sets (``cancel()``) or a deadline it gives (``set_deadline()``), checked by
    the pipelines at every step and tile. Thread-safe; one token per request."""

    def __init__(self) -> None:
        self._cancelled = threading.Event()
        self._deadline: float | None = None
        self._limit: float | None = None

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the token is cancelled (True) or ``timeout`` seconds pass (False)."""
        return self._cancelled.wait(timeout)

    def set_deadline(self, seconds: float | None) -> None:
        """Stop the run ``seconds`` from now (None: no deadline). A deadline already set stays."""
        if seconds is not None and self._deadline is None:
            self._limit = seconds
            self._deadline = time.monotonic() + seconds

    def check(self) -> None:
        """Raise :class:`Cancelled` (or :class:`RequestTimeout`) when the run should stop."""
        if self._cancelled.is_set():
            raise Cancelled("the request was cancelled")
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise RequestTimeout(self._limit or 0.0)


def check(cancel: CancelToken | None) -> None:
    """``cancel.check()`` when there is a token."""
    if cancel is not None:
        cancel.check()


@dataclass(frozen=True)
class ProgressEvent:
    """Reported after every sampling step and, for a tiled input, after every tile of every stage.

    tile / tiles: the tile just done and how many the stage has; step: the sampling step, once it
    is complete (a :class:`~resshift.diffusion.StepResult`; None for the tiles of the encoder and
    decoder, the Swin-UNet's tiles within a step, and the stages of a whole photo); done: the
    fraction of the run done, when the pipeline counts it itself; what: the pipeline's words for
    it ('decoding, tile 3/9', 'Detecting faces')."""

    tile: int  # 0-based
    tiles: int
    step: Any = None
    done: float | None = None
    what: str = ""

    @property
    def fraction(self) -> float:
        if self.done is not None:
            return self.done
        if self.step is None:
            return (self.tile + 1) / self.tiles
        return (self.tile * self.step.total + self.step.index + 1) / (self.tiles * self.step.total)

    def describe(self) -> str:
        """'step 3/4', 'tile 2/4, step 3/4', or the pipeline's own words."""
        if self.what or self.step is None:
            return self.what or f"tile {self.tile + 1}/{self.tiles}"
        tile = f"tile {self.tile + 1}/{self.tiles}, " if self.tiles > 1 else ""
        return f"{tile}step {self.step.index + 1}/{self.step.total}"

    @classmethod
    def stage(cls, done: float, what: str) -> "ProgressEvent":
        """A stage of a pipeline that has no tiles or steps of its own ('Detecting faces')."""
        return cls(0, 1, None, min(max(done, 0.0), 1.0), what)
