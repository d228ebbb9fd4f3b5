"""Fetching models' weight files in the background, so a server's best models are ready when its
first visitor asks (the studio does it at start on a GPU with downloads allowed).

A fetch shares each file's download with any request that needs the same file meanwhile
(``resshift.weights.resolve_weight`` holds one download per file), so a run of a model still being
fetched waits for it instead of starting a second download.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace

from resshift.manager import ModelManager
from resshift.weights import WeightsLoadError, WeightsUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FetchState:
    """One model's fetch. state: 'waiting', 'fetching', 'ready' or 'failed'; done / total: bytes of
    the file being downloaded (total None when unknown); error: why it failed, a sentence."""

    name: str
    state: str = "waiting"
    done: int = 0
    total: int | None = None
    error: str = ""

    def describe(self) -> str:
        if self.state == "fetching" and self.total:
            return f"{self.name} {100 * self.done // self.total}% of {self.total / 1e9:.2f} GB"
        if self.state == "failed":
            return f"{self.name} could not be fetched ({self.error})"
        return f"{self.name} {self.state}"


class Prefetch:
    """Fetch the weight files of ``names`` (in order, one at a time) through ``manager``'s weights
    folder, cache, mirror and offline rule; :meth:`status` is safe to call from any thread."""

    def __init__(self, manager: ModelManager, names: list[str]):
        self.manager = manager
        self._states = {name: FetchState(name) for name in names}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="resshift-prefetch", daemon=True)

    def start(self) -> "Prefetch":
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> bool:
        """True once every fetch has ended (ready or failed)."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def status(self) -> list[FetchState]:
        with self._lock:
            return list(self._states.values())

    def _set(self, name: str, **changes) -> None:
        with self._lock:
            self._states[name] = replace(self._states[name], **changes)

    def _run(self) -> None:
        m = self.manager
        for name in list(self._states):
            self._set(name, state="fetching")
            try:
                m.fetch(name, progress=lambda done, total, name=name: self._set(name, done=done, total=total))
            except (WeightsUnavailable, WeightsLoadError) as err:
                log.warning("could not fetch %s: %s", name, err)
                self._set(name, state="failed", error=getattr(err, "reason", str(err)))
            else:
                log.info("%s is ready", name)
                self._set(name, state="ready")
