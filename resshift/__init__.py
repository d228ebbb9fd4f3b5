"""ResShift: efficient diffusion for image restoration by residual shifting (Yue, Wang, Loy 2023).

The library in one import::

    import resshift

    sr = resshift.load_model("lite-sr")                       # bundled; official ones download
    result = resshift.super_resolve(sr, "photo.png", resshift.RestoreOptions(seed=42))
    result.image, result.facts()                              # uint8 array, the run's settings

``load_model``, ``list_models``, the pipelines ``super_resolve`` / ``inpaint`` / ``restore_face`` /
``restore``, their settings ``RestoreOptions`` / ``PhotoOptions``, the one result type
``RestoreResult``, ``InvalidRequest`` (what a wrong request raises), ``ProgressEvent`` and
``CancelToken`` (progress and stopping), and ``ModelManager`` (the cache that owns every network).
Names are imported on first use, so ``import resshift`` itself is quick.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "load_model": "resshift.api", "list_models": "resshift.api",
    "super_resolve": "resshift.pipelines.tasks", "inpaint": "resshift.pipelines.tasks",
    "restore_face": "resshift.pipelines.faces", "restore": "resshift.pipelines.registry",
    "RestoreOptions": "resshift.pipelines.options", "PhotoOptions": "resshift.pipelines.options",
    "RestoreResult": "resshift.pipelines.result", "InvalidRequest": "resshift.errors",
    "ProgressEvent": "resshift.runtime.progress", "CancelToken": "resshift.runtime.progress", "Cancelled": "resshift.runtime.progress",
    "ModelManager": "resshift.manager", "ModelSpec": "resshift.weights.registry",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'resshift' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)


if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load on first use
    from .api import list_models, load_model
    from .errors import InvalidRequest
    from .manager import ModelManager
    from .pipelines.options import PhotoOptions, RestoreOptions
    from .pipelines.registry import restore
    from .pipelines.faces import restore_face
    from .pipelines.tasks import inpaint, super_resolve
    from .runtime.progress import CancelToken, Cancelled, ProgressEvent
    from .pipelines.result import RestoreResult
    from .weights.registry import ModelSpec
