"""The typed training configuration; YAML only at the edge (:func:`load_config`)."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterable, Mapping

import yaml

from ..weights.registry import TASKS

PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
CROP_MODES: tuple[str, ...] = ("crop", "resize", "center")


class ConfigError(ValueError):
    """A training configuration that cannot be used (unknown key, bad value)."""


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs.

    model: a lite model name (default ``lite-<task>``); ``unet`` overrides some of its Swin-UNet
    parameters (e.g. a tiny network for tests). ``degradation`` overrides the task's degradation
    settings (:class:`~resshift.data.RealESRGANConfig`, :class:`~resshift.data.MaskConfig` or
    :class:`~resshift.data.FaceDegradationConfig` fields). Intervals are in optimiser steps;
    ``time_budget_s`` stops the run cleanly (checkpoint + export) after that many seconds of
    training, and the cosine schedule then anneals by time as well as by steps.
    """

    task: str
    data_dir: str
    out_dir: str = "runs/lite"
    model: str | None = None
    unet: Mapping[str, Any] = field(default_factory=dict)
    degradation: Mapping[str, Any] = field(default_factory=dict)
    val_dir: str | None = None
    val_images: int = 8
    val_size: int | None = None  # validation crop (gt pixels); default crop_size
    crop_size: int = 256
    crop_mode: str = "crop"
    crop_scale: tuple[float, float] = (1.0, 1.0)
    hflip: bool = True
    cache_images: bool = False  # decode the training images once, shared by the loader workers
    batch_size: int = 16
    num_workers: int = 4
    lr: float = 2e-4
    lr_min_ratio: float = 0.1
    weight_decay: float = 0.0
    warmup_steps: int = 100
    iterations: int = 10_000
    grad_clip: float = 1.0
    ema_rate: float = 0.999
    precision: str = "auto"  # auto: bf16 autocast on CUDA, fp32 elsewhere
    channels_last: bool | None = None  # None: on CUDA only
    compile: bool = False
    log_every: int = 50
    val_every: int = 1000
    ckpt_every: int = 1000
    ckpt_every_s: float | None = None
    seed: int = 0
    time_budget_s: float | None = None
    device: str = "auto"
    resume: bool = True
    init_from: str | None = None  # fine-tune: start (model and EMA) from these UNet weights
    # with init_from: the output convolution starts at zero, so the first x0 prediction is the
    # residual base itself (e.g. a classical fill of the holes) and the fine-tune learns the
    # correction to it, for a model whose base or conditioning changed since those weights
    init_zero_output: bool = False
    export_path: str | None = None  # a bare file name goes in out_dir
    # the objective's departures from the paper (resshift.train.objective): one probability per
    # trained step for drawing t (None: uniform), and the weight of the per-image MSE inside the
    # task's focus region (inpainting: the holes) added to the loss (0: off)
    timestep_probs: tuple[float, ...] | None = None
    focus_weight: float = 0.0

    @property
    def export_file(self) -> Path | None:
        """Where the fp16 EMA weights are exported: ``export_path``, inside ``out_dir`` when it is a
        bare file name (so ``--set out_dir=...`` moves the export with the run)."""
        if not self.export_path:
            return None
        path = Path(self.export_path)
        return Path(self.out_dir) / path if path.parent == Path(".") else path

    def __post_init__(self) -> None:
        self._coerce_numbers()
        if self.task not in TASKS:
            raise ConfigError(f"task must be one of {TASKS}, got {self.task!r}")
        object.__setattr__(self, "unet", _freeze(dict(self.unet or {})))
        object.__setattr__(self, "degradation", _freeze(dict(self.degradation or {})))
        lo, hi = (float(v) for v in self.crop_scale)
        object.__setattr__(self, "crop_scale", (lo, hi))
        if self.crop_mode not in CROP_MODES:
            raise ConfigError(f"crop_mode must be one of {CROP_MODES}, got {self.crop_mode!r}")
        if self.init_zero_output and not self.init_from:
            raise ConfigError("init_zero_output is for fine-tuning: it needs init_from")
        if self.timestep_probs is not None:
            probs = tuple(float(v) for v in self.timestep_probs)
            if any(not (v >= 0 and math.isfinite(v)) for v in probs) or sum(probs) <= 0:
                raise ConfigError(f"timestep_probs must be weights >= 0, not all 0, got {list(probs)}")
            object.__setattr__(self, "timestep_probs", probs)
        if not (self.focus_weight >= 0 and math.isfinite(self.focus_weight)):
            raise ConfigError(f"focus_weight must be a number >= 0, got {self.focus_weight}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        positive = ("batch_size", "iterations", "crop_size", "log_every", "val_images")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("num_workers", "warmup_steps", "val_every", "ckpt_every"):
            if int(getattr(self, name)) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not (self.lr > 0 and 0 <= self.lr_min_ratio <= 1 and self.weight_decay >= 0):
            raise ConfigError("lr must be > 0, lr_min_ratio in [0, 1] and weight_decay >= 0")
        if not 0 <= self.ema_rate < 1:
            raise ConfigError(f"ema_rate must be in [0, 1), got {self.ema_rate}")
        if self.grad_clip < 0:
            raise ConfigError(f"grad_clip must be >= 0 (0: off), got {self.grad_clip}")
        for name in ("time_budget_s", "ckpt_every_s"):
            value = getattr(self, name)
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise ConfigError(f"{name} must be a positive number of seconds or null, got {value}")

    def _coerce_numbers(self) -> None:
        """int/float fields given as strings (YAML reads ``1e-3`` as a string) or ints, converted."""
        for f in dataclasses.fields(self):
            kind = {"int": int, "float": float, "float | None": float}.get(str(f.type))
            value = getattr(self, f.name)
            if kind is None or value is None or isinstance(value, bool):
                continue
            try:
                converted = kind(value)
            except (TypeError, ValueError):
                raise ConfigError(f"{f.name} must be a number ({f.type}), got {value!r}") from None
            if kind is int and isinstance(value, float) and value != converted:
                raise ConfigError(f"{f.name} must be an integer, got {value!r}")
            object.__setattr__(self, f.name, converted)

    @property
    def model_name(self) -> str:
        return self.model or f"lite-{self.task}"

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _thaw(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, params: Mapping[str, Any]) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(params) - names)
        if unknown:
            raise ConfigError(f"unknown training config keys {unknown}; known: {sorted(names)}")
        missing = sorted(n for n in ("task", "data_dir") if n not in params)
        if missing:
            raise ConfigError(f"training config needs {missing}")
        try:
            return cls(**dict(params))
        except TypeError as exc:
            raise ConfigError(str(exc)) from exc


def apply_overrides(params: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """``["batch_size=8", "degradation.bicubic_prob=0.5"]`` applied to a config dict; values are
    YAML scalars or flow collections (``crop_scale=[0.5, 1]``)."""
    out = _thaw(dict(params))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override must look like key=value, got {item!r}")
        *parents, leaf = key.strip().split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"cannot set {key!r}: {part!r} is not a mapping")
        node[leaf] = yaml.safe_load(raw)
    return out


def load_config(path: str | Path, overrides: Iterable[str] = ()) -> TrainConfig:
    """Read a YAML training config (a mapping of :class:`TrainConfig` fields), then apply
    ``key=value`` overrides."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training config not found: {path}")
    params = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(params, Mapping):
        raise ConfigError(f"{path}: a training config is a YAML mapping")
    return TrainConfig.from_dict(apply_overrides(params, overrides))
