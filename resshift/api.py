"""The library's top level: find a model by name and load it (``resshift.load_model``)."""
from __future__ import annotations

from pathlib import Path

import torch

from .catalog import all_models, find_model
from .errors import InvalidRequest
from .loader import RestorationModel
from .manager import ModelManager, default_manager
from .settings import offline_by_env
from .weights.registry import TASKS, ModelSpec


def list_models(task: str | None = None) -> list[ModelSpec]:
    """Every known model (the official ResShift checkpoints, SinSR and the bundled lite models),
    or those of ``task`` ('sr', 'inpaint', 'face'; another raises InvalidRequest)."""
    if task is not None and task not in TASKS:
        raise InvalidRequest(f"task must be one of {', '.join(TASKS)}; got {task!r}")
    return [spec for spec in all_models() if task is None or spec.task == task]


def load_model(name: str, *, device: str | torch.device | None = None, weights_dir: str | Path | None = None,
               offline: bool | None = None) -> RestorationModel:
    """The model called ``name``, loaded on ``device`` (None: RESSHIFT_DEVICE, else CUDA when
    available), its weights found in ``weights_dir``, bundled, cached or downloaded (unless
    ``offline``; None: RESSHIFT_OFFLINE). Models are cached per device: loading one again is free.
    Raises UnknownModelError (an InvalidRequest and a KeyError) for an unknown name,
    ``resshift.weights.WeightsUnavailable`` when its weights cannot be had."""
    find_model(name)  # UnknownModelError with the known names
    if weights_dir is None and offline in (None, offline_by_env()):
        return default_manager(device).get(name)
    manager = ModelManager(device=device or "auto", weights_dir=weights_dir,
                           allow_download=not (offline_by_env() if offline is None else offline), max_loaded=1)
    return manager.get(name)
