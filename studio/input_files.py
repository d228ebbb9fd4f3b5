"""Removing uploaded input files once no client can send them again.

Gradio keeps every upload for an hour (``delete_cache``). A request's input is needed only while
its client may send it again: the page sends the same uploaded file again for every run on the
same input (Run, then Compare, a live re-run), so deleting it after one run would break the next.
So each client session *holds* the files it last sent for each input (per tab: 'sr', 'inpaint',
'face'), and a file is removed as soon as no session holds it:

- when the session sends another file for that input (the old one is removed at once), or
- when the session ends: the page is closed, or a gradio_client ``Client`` is closed (Gradio's
  heartbeat ends and ``demo.unload`` runs :meth:`InputFiles.end_session`).

A request without a session of its own (``/gradio_api/call/`` with no ``session_hash``: Gradio
makes its event id its session) holds nothing: no later request can send its files again in that
session, which never ends; its uploads go as unused ones.

Uploads are content-addressed (``<upload folder>/<hash>/<name>``): two sessions that upload the
same bytes under the same name share one file, which stays until neither holds it.

A session holds only files its own client uploaded (the upload ledger, uploads.py, records who
sent what): a request that sends an example's path, a result's path or another client's upload
uses it but never removes it. Files a session sent with a queued request are *pinned* to it from
the moment the request joins the queue (upload_gate.py reads the request) until a handler holds
them or the session ends, so an upload waiting in the queue is never taken for an unused one;
uploads nobody holds or pinned are removed after ``Limits.unused_upload_s`` (:meth:`InputFiles.sweep`).
Outside a Gradio request (no session) nothing is held or removed.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Callable, Iterable

import gradio as gr
from gradio.context import LocalContext

from studio.uploads import UploadLedger

log = logging.getLogger(__name__)

PINNED = " queued"  # the slot of files sent with a queued request not yet held (no task has this name)


def current_session() -> str | None:
    """The session hash of the Gradio request being handled (None outside one). Gradio sets its
    request in a context variable around the handler (``gradio.context.LocalContext``), which
    the studio's worker threads inherit (``cancel.cancellable`` copies the context)."""
    request = LocalContext.request.get(None)
    return getattr(request, "session_hash", None) if request is not None else None


def current_client() -> str | None:
    """The address of the client of the Gradio request being handled, as the upload gate counts it
    (None outside a request)."""
    request = LocalContext.request.get(None)
    client = getattr(request, "client", None) if request is not None else None
    return getattr(client, "host", None)


class InputFiles:
    """The input files each session holds, per input slot; a file no session holds is removed.
    upload_root: Gradio's upload folder (a callable: read when needed, as ``GRADIO_TEMP_DIR`` may
    be set later).

    A held file is recorded with its identity (inode and modification time). Another client that
    uploads the same bytes under the same name replaces the file (Gradio renames its upload over
    the old one) before its request holds it; a release that finds the file replaced leaves it to
    that client, so a session that ends never deletes a file another has just uploaded."""

    def __init__(self, upload_root: Callable[[], str | Path], uploads: UploadLedger | None = None):
        self._root = upload_root
        self.uploads = uploads or UploadLedger()  # who uploaded what (the gate records it)
        self._held: dict[str, dict[str, dict[str, tuple[int, int]]]] = {}  # session -> slot -> path -> id
        self._lock = threading.Lock()

    def hold(self, slot: str, paths: Iterable[str | os.PathLike | None]) -> None:
        """The current session now holds ``paths`` (files under the upload folder) for ``slot``;
        the files it held there before and no longer sends are removed unless another session
        holds them. Only the client's own uploads are held (the others are used, never removed).
        Nothing happens outside a Gradio request."""
        session = current_session()
        if session is None:
            return
        new = self._owned(current_client(), paths)
        if session == LocalContext.event_id.get(None):
            return  # a one-off session (an API call without one): nothing can send its files again
        with self._lock:
            if not new and session not in self._held:
                return  # nothing of its own, now or before
            slots = self._held.setdefault(session, {})
            old = slots.get(slot, {})
            slots[slot] = new
            pinned = slots.get(PINNED, {})
            for path in new:
                pinned.pop(path, None)
            released = {p: i for p, i in old.items() if p not in new and not self._is_held(p)}
        self._remove(released, self._root_path())

    def pin(self, session: str | None, client: str, paths: Iterable[str]) -> None:
        """``session`` has queued a request that sends ``paths``: the ones ``client`` uploaded stay
        until a handler holds them or the session ends (called by the upload gate)."""
        owned = self._owned(client, paths)  # (their unused life starts again)
        if not session or not owned:
            return
        with self._lock:
            self._held.setdefault(session, {}).setdefault(PINNED, {}).update(owned)

    def sweep(self, older_than: float) -> int:
        """Remove the uploads nobody has held or pinned for ``older_than`` seconds; returns how
        many files went."""
        with self._lock:
            keep = {p for slots in self._held.values() for paths in slots.values() for p in paths}
        expired = self.uploads.expired(older_than, keep)
        if expired:
            log.info("removing %d upload(s) unused for %.0f s", len(expired), older_than)
        return self._remove({p: i for p in expired if (i := _identity(p)) is not None}, self._root_path())

    def _owned(self, client: str | None, paths: Iterable[str | os.PathLike | None]) -> dict[str, tuple[int, int]]:
        """{path: identity} of the files of ``paths`` under the upload folder that ``client`` uploaded."""
        root = self._root_path()
        owned = {}
        for p in paths:
            if p and _inside(Path(p), root) and self.uploads.owns(client, p):
                path = str(Path(p).resolve())
                identity = _identity(path)
                if identity is not None:
                    owned[path] = identity
        self.uploads.used(owned)
        return owned

    def end_session(self, session_hash: str | None) -> int:
        """Release every file ``session_hash`` holds (the page or client is gone); returns how
        many files were removed."""
        if not session_hash:
            return 0
        with self._lock:
            slots = self._held.pop(session_hash, {})
            released = {p: i for paths in slots.values() for p, i in paths.items() if not self._is_held(p)}
        return self._remove(released, self._root_path())

    def on_unload(self, request: gr.Request) -> None:
        """``demo.unload`` handler (``request``: the closing session's ``gr.Request``)."""
        self.end_session(getattr(request, "session_hash", None))

    def sessions(self) -> int:
        """How many sessions hold files."""
        with self._lock:
            return len(self._held)

    def held(self) -> set[str]:
        """Every file some session holds (for tests and operators)."""
        with self._lock:
            return {p for slots in self._held.values() for paths in slots.values() for p in paths}

    def _is_held(self, path: str) -> bool:  # under self._lock
        return any(path in paths for slots in self._held.values() for paths in slots.values())

    def _root_path(self) -> Path:
        return Path(self._root()).resolve()

    def _remove(self, paths: dict[str, tuple[int, int]], root: Path) -> int:
        """Remove each file that is still the one that was held (``paths``: path -> identity)."""
        removed = 0
        for path, identity in paths.items():
            file = Path(path)
            if _identity(path) != identity:  # gone already, or uploaded again since: not ours
                continue
            try:
                file.unlink()
                self.uploads.forget(path)
                removed += 1
            except FileNotFoundError:  # removed meanwhile (Gradio's cache cleaning)
                continue
            except OSError as exc:
                log.warning("could not remove the input file %s: %s", file, exc)
                continue
            folder = file.parent
            if folder != root and _inside(folder, root):
                try:
                    folder.rmdir()  # its content-hash folder, when empty
                except OSError:
                    pass  # not empty (another name for the same bytes) or gone
        return removed


def _identity(path: str) -> tuple[int, int] | None:
    """(inode, modification time in ns) of a file, None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def _inside(path: Path, root: Path) -> bool:
    try:
        return Path(path).resolve().is_relative_to(root)
    except OSError:
        return False
