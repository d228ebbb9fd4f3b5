"""Where a run's machine settings come from: device names and the environment.

The environment variables the library reads (the studio adds its limits, ``studio/limits.py``):

=============================  =============================================================
``RESSHIFT_DEVICE``            cpu, cuda, cuda:N or auto (CUDA when available)
``RESSHIFT_OFFLINE``           1/true/yes/on: never download weights
``RESSHIFT_WEIGHTS_DIR``       a folder of weight files, looked at before the cache
``RESSHIFT_CACHE_DIR``         where downloads are kept (default ``~/.cache/resshift``)
``RESSHIFT_WEIGHTS_MIRROR``    a base URL that replaces the release prefix of every download
=============================  =============================================================
"""
from __future__ import annotations

import os
from typing import Mapping

import torch

TRUE = ("1", "true", "yes", "on")


def env_flag(name: str, env: Mapping[str, str] | None = None) -> bool:
    """True when the variable says 1, true, yes or on (any case)."""
    return (os.environ if env is None else env).get(name, "").strip().lower() in TRUE


def offline_by_env() -> bool:
    """RESSHIFT_OFFLINE: downloads are off."""
    return env_flag("RESSHIFT_OFFLINE")


def resolve_device(name: str | torch.device | None = None) -> torch.device:
    """'auto' (CUDA when available), 'cpu', 'cuda' or 'cuda:N' -> a usable torch.device.
    None: RESSHIFT_DEVICE, else 'auto'. Raises ValueError with a sentence for anything else."""
    if isinstance(name, torch.device):
        return name
    text = (name or os.environ.get("RESSHIFT_DEVICE") or "auto").strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(text)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be cpu, cuda, cuda:N or auto, got {name!r}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {text} was asked for but no CUDA device is available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {text}: there are {torch.cuda.device_count()} CUDA devices")
    return device
