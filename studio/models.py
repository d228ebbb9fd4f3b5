"""Which models the studio offers per task, labelled with where their weights are.

Labels read like ``realsr-v3 — RealSR x4 v3 (4 steps) · download on first use`` or
``lite-sr — ... · bundled``; the dropdown's value is always the plain model name.
"""
from __future__ import annotations


from resshift.catalog import all_models
from resshift.manager import ModelManager
from resshift.weights import weight_status
from resshift.weights.registry import ModelSpec


# best first: a model ready without a download beats one that needs it
_RANK = {"loaded": 0, "local": 1, "bundled": 1, "cached": 1, "downloadable": 2,
         "offline": 3, "missing": 4}
_WORDS = {"loaded": "loaded", "local": "on disk", "bundled": "bundled", "cached": "on disk",
          "downloadable": "download on first use", "offline": "not available offline",
          "missing": "weights missing"}


def known_specs() -> tuple[ModelSpec, ...]:
    """The catalog: the official models and the bundled lite models."""
    return tuple(all_models())


def availability(manager: ModelManager, name: str) -> str:
    """'loaded', 'local', 'bundled', 'cached', 'downloadable', 'offline' (would need a download
    but downloads are off) or 'missing'. Never touches the network."""
    if name in manager.loaded():
        return "loaded"
    spec = manager.spec(name)
    statuses = [weight_status(f, weights_dir=manager.weights_dir) for f in spec.weight_files]
    worst = max(statuses, key=_RANK.__getitem__)
    if worst == "downloadable" and not manager.allow_download:
        return "offline"
    return worst


def label(manager: ModelManager, name: str) -> str:
    spec = manager.spec(name)
    return f"{name} — {short_title(spec)} · {_WORDS[availability(manager, name)]}"


def short_title(spec: ModelSpec) -> str:
    title = spec.title.removeprefix("ResShift ")
    return title[:1].upper() + title[1:]


def choices(manager: ModelManager, task: str) -> list[tuple[str, str]]:
    """(label, name) pairs for a dropdown, in catalog order."""
    return [(label(manager, n), n) for n in manager.names(task)]


def default_name(manager: ModelManager, task: str) -> str | None:
    """The first model of ``task`` that works without a download, else the first one listed.

    On a CPU the bundled lite model comes first among those ready: the official models take
    minutes per image there (they stay one click away in the dropdown)."""
    names = manager.names(task)
    if not names:
        return None
    on_cpu = manager.device.type == "cpu"

    def rank(name: str) -> tuple[int, int]:
        return _RANK[availability(manager, name)], int(on_cpu and manager.spec(name).official)

    return min(names, key=rank)


def ready_offline(manager: ModelManager, name: str) -> bool:
    return availability(manager, name) in ("loaded", "local", "bundled", "cached")
