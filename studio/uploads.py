"""Which client uploaded which file: the ledger that decides what a request may remove.

Gradio's temp folder holds three kinds of files: the uploads (``POST /gradio_api/upload``), the
example files Gradio copies there, and the results the studio writes. Their paths are not secret
(``/config`` lists the examples; a result's path comes back to its client), so a path a request
sends proves nothing about who made it. The upload gate (upload_gate.py) records every upload here
as it is answered: its path and the client (address) that sent it. Then:

- a session holds, and so may remove, only files that its own client uploaded (input_files.py):
  examples, results and other clients' uploads are never removed by a request;
- a client's uploads still on disk are its share of the temp folder (``Limits.client_temp_bytes``),
  so one client fills only its own share;
- an upload that no request has used (held or queued) for ``Limits.unused_upload_s`` is removed
  (:meth:`UploadLedger.expired`), instead of waiting for Gradio's hourly sweep.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable


@dataclass
class Upload:
    client: str
    last_used: float  # when it was uploaded, or last held or queued by a request (clock seconds)


class UploadLedger:
    """The uploads still on disk, by path (resolved), with the client that sent each."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._uploads: dict[str, Upload] = {}
        self._lock = threading.Lock()

    def record(self, client: str, paths: Iterable[str]) -> None:
        """``client`` has just uploaded ``paths`` (the same bytes uploaded again: the file is its now)."""
        now = self.clock()
        with self._lock:
            for path in paths:
                self._uploads[_key(path)] = Upload(client, now)

    def owns(self, client: str | None, path: str | os.PathLike) -> bool:
        """Whether ``client`` uploaded the file at ``path`` (and it is still on disk)."""
        with self._lock:
            upload = self._uploads.get(_key(path))
        return upload is not None and client is not None and upload.client == client

    def used(self, paths: Iterable[str | os.PathLike]) -> None:
        """A request holds or queued ``paths``: their unused life starts again."""
        now = self.clock()
        with self._lock:
            for path in paths:
                upload = self._uploads.get(_key(path))
                if upload is not None:
                    upload.last_used = now

    def forget(self, path: str | os.PathLike) -> None:
        with self._lock:
            self._uploads.pop(_key(path), None)

    def client_bytes(self, client: str) -> int:
        """Bytes of ``client``'s uploads still on disk (entries whose file is gone are dropped)."""
        with self._lock:
            paths = [p for p, u in self._uploads.items() if u.client == client]
        total = 0
        for path in paths:
            try:
                total += os.stat(path).st_size
            except OSError:
                self.forget(path)
        return total

    def expired(self, older_than: float, keep: set[str]) -> list[str]:
        """The uploads nobody has used for ``older_than`` seconds, except those in ``keep`` (held
        or queued); they are forgotten here, for the caller to remove."""
        now = self.clock()
        with self._lock:
            old = [p for p, u in self._uploads.items() if now - u.last_used >= older_than and p not in keep]
            for path in old:
                del self._uploads[path]
        return old

    def __len__(self) -> int:
        with self._lock:
            return len(self._uploads)


def _key(path: str | os.PathLike) -> str:
    try:
        return str(Path(path).resolve())
    except OSError:
        return str(path)
