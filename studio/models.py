"""Which models the studio offers per task, labelled with where their weights are.

Labels read like ``realsr-v3 — RealSR x4 v3 (4 steps) · download on first use`` or
``lite-sr — ... · bundled``; the dropdown's value is always the plain model name. Availability and
the default model are the library's (``resshift.catalog``).
"""
from __future__ import annotations

from resshift.catalog import availability, default_model_for
from resshift.manager import ModelManager
from resshift.weights.registry import ModelSpec

_WORDS = {"loaded": "loaded", "local": "on disk", "bundled": "bundled", "cached": "on disk",
          "downloadable": "download on first use", "offline": "not available offline",
          "missing": "weights missing"}

__all__ = ["availability", "choices", "default_name", "label", "short_title"]


def label(manager: ModelManager, name: str) -> str:
    spec = manager.spec(name)
    where = availability(manager, name)
    word = "not available: no connection" if where == "offline" and manager.allow_download else _WORDS[where]
    return f"{name} — {short_title(spec)} · {word}"


def short_title(spec: ModelSpec) -> str:
    title = spec.title.removeprefix("ResShift ")
    return title[:1].upper() + title[1:]


def choices(manager: ModelManager, task: str) -> list[tuple[str, str]]:
    """(label, name) pairs for a dropdown, in catalog order."""
    return [(label(manager, n), n) for n in manager.names(task)]


def default_name(manager: ModelManager, task: str) -> str | None:
    """The model a tab preselects: the library's default for this device and download rule."""
    return default_model_for(manager, task)
