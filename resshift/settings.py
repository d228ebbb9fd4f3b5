"""The library's settings: one typed object, read from the environment (the only place in the
library that reads ``RESSHIFT_*``; the studio's limits are read by ``studio/limits.py``).

=============================  =============================================================
``RESSHIFT_DEVICE``            cpu, cuda, cuda:N or auto (CUDA when available)
``RESSHIFT_OFFLINE``           1/true/yes/on: never download weights
``RESSHIFT_WEIGHTS_DIR``       a folder of weight files, looked at before the cache
``RESSHIFT_CACHE_DIR``         where downloads are kept (default ``~/.cache/resshift``)
``RESSHIFT_WEIGHTS_MIRROR``    a base URL that replaces the release prefix of every download
``RESSHIFT_VERIFY_WEIGHTS``    0/false/no/off: skip the registry's size/SHA-256 pins
``RESSHIFT_MALLOC``            default: leave glibc's malloc settings alone
=============================  =============================================================

:meth:`Settings.from_env` reads them when asked (a manager, a download, the command line), so a
variable set before a call counts; arguments and flags given explicitly win over them.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch

log = logging.getLogger(__name__)

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")
PREFIX = "RESSHIFT_"
ENV_DEVICE = "RESSHIFT_DEVICE"
ENV_OFFLINE = "RESSHIFT_OFFLINE"
ENV_WEIGHTS_DIR = "RESSHIFT_WEIGHTS_DIR"
ENV_CACHE_DIR = "RESSHIFT_CACHE_DIR"
ENV_MIRROR = "RESSHIFT_WEIGHTS_MIRROR"
ENV_VERIFY = "RESSHIFT_VERIFY_WEIGHTS"
ENV_MALLOC = "RESSHIFT_MALLOC"


def env_flag(name: str, env: Mapping[str, str] | None = None) -> bool:
    """True when the variable says 1, true, yes or on (any case)."""
    return (os.environ if env is None else env).get(name, "").strip().lower() in TRUE


@dataclass(frozen=True)
class Settings:
    """device: 'auto', 'cpu', 'cuda' or 'cuda:N' (as written); offline: never download;
    weights_dir: a folder of weight files (None: none); cache_dir: where downloads are kept;
    mirror: a base URL for every download ('' = the registry's URLs); verify_pins: check the
    registry's sizes and SHA-256; tune_malloc: keep large blocks in one heap (``malloc.py``)."""

    device: str = "auto"
    offline: bool = False
    weights_dir: Path | None = None
    cache_dir: Path = Path.home() / ".cache" / "resshift"
    mirror: str = ""
    verify_pins: bool = True
    tune_malloc: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        verify = env.get(ENV_VERIFY, "").strip().lower()
        if verify not in ("", *TRUE, *FALSE):
            log.warning("%s=%r is not 0/1/true/false; checking size and SHA-256 pins", ENV_VERIFY, verify)
        weights = env.get(ENV_WEIGHTS_DIR, "").strip()
        cache = env.get(ENV_CACHE_DIR, "").strip()
        return cls(device=(env.get(ENV_DEVICE, "").strip() or "auto"),
                   offline=env_flag(ENV_OFFLINE, env),
                   weights_dir=Path(weights).expanduser() if weights else None,
                   cache_dir=Path(cache).expanduser() if cache else cls.cache_dir,
                   mirror=env.get(ENV_MIRROR, "").strip(),
                   verify_pins=verify not in FALSE,
                   tune_malloc=env.get(ENV_MALLOC, "").strip().lower() != "default")


def settings() -> Settings:
    """The settings the environment holds now."""
    return Settings.from_env()


def forwarded_env(env: Mapping[str, str] | None = None, *, leave_out: tuple[str, ...] = ()) -> dict[str, str]:
    """The ``RESSHIFT_*`` variables of ``env`` (default: this process's), less ``leave_out``: what
    another process of the library (a Ray worker) needs to read the same settings."""
    env = os.environ if env is None else env
    return {k: v for k, v in env.items() if k.startswith(PREFIX) and k not in leave_out}


def offline_by_env() -> bool:
    """RESSHIFT_OFFLINE: downloads are off."""
    return settings().offline


def resolve_device(name: str | torch.device | None = None) -> torch.device:
    """'auto' (CUDA when available), 'cpu', 'cuda' or 'cuda:N' -> a usable torch.device.
    None: RESSHIFT_DEVICE, else 'auto'. Raises ValueError with a sentence for anything else."""
    if isinstance(name, torch.device):
        return name
    text = (name or settings().device).strip().lower()
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
