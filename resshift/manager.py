"""A process-wide, thread-safe cache of loaded models (used by the app and the CLI).

Each model is loaded once and shared read-only by concurrent requests. When a new model is needed
and ``max_loaded`` are already in memory (or CUDA memory is short), the least recently used one is
dropped first.
"""
from __future__ import annotations

import gc
import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Iterable

import torch

from .loader import RestorationModel, load_model
from .weights import resolve_weight
from .weights.registry import ModelSpec

log = logging.getLogger(__name__)


class UnknownModelError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


class ModelManager:
    def __init__(self, specs: Iterable[ModelSpec], *, device: str | torch.device = "cpu",
                 weights_dir: str | Path | None = None, allow_download: bool = True, max_loaded: int = 2,
                 min_free_cuda_bytes: int = 6 << 30):
        self.specs: dict[str, ModelSpec] = {}
        for spec in specs:
            if spec.name in self.specs:
                raise ValueError(f"two models are named {spec.name!r}")
            self.specs[spec.name] = spec
        self.device = torch.device(device)
        self.weights_dir = weights_dir
        self.allow_download = allow_download
        self.max_loaded = max(1, max_loaded)
        self.min_free_cuda_bytes = min_free_cuda_bytes
        self._loaded: OrderedDict[str, RestorationModel] = OrderedDict()
        self._lock = threading.Lock()
        self._name_locks: dict[str, threading.Lock] = {}

    def spec(self, name: str) -> ModelSpec:
        try:
            return self.specs[name]
        except KeyError:
            raise UnknownModelError(f"unknown model {name!r}; known: {', '.join(self.specs)}") from None

    def names(self, task: str | None = None) -> list[str]:
        return [n for n, s in self.specs.items() if task is None or s.task == task]

    def loaded(self) -> list[str]:
        with self._lock:
            return list(self._loaded)

    def _evict_for_new(self) -> None:
        with self._lock:
            while self._loaded and (len(self._loaded) >= self.max_loaded or self._cuda_short()):
                name, _ = self._loaded.popitem(last=False)
                log.info("unloading model %s to make room", name)
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _cuda_short(self) -> bool:
        if self.device.type != "cuda" or not torch.cuda.is_available():
            return False
        free, _ = torch.cuda.mem_get_info(self.device)
        return free < self.min_free_cuda_bytes

    def get(self, name: str, progress: Callable[[int, int | None], None] | None = None) -> RestorationModel:
        """The loaded model called ``name`` (loading it, and its weights, on first use)."""
        spec = self.spec(name)
        with self._lock:
            model = self._loaded.get(name)
            if model is not None:
                self._loaded.move_to_end(name)
                return model
            name_lock = self._name_locks.setdefault(name, threading.Lock())
        with name_lock:  # one load per model even when requests arrive together
            with self._lock:
                model = self._loaded.get(name)
            if model is not None:
                return model
            # the weight files first (found, or downloaded): a model that cannot be had must not
            # cost a loaded one its place
            paths = [None if file is None else resolve_weight(
                file, weights_dir=self.weights_dir, allow_download=self.allow_download, progress=progress)
                for file in (spec.unet_weights, spec.first_stage_weights)]
            self._evict_for_new()
            model = load_model(spec, device=self.device, unet_path=paths[0], first_stage_path=paths[1])
            with self._lock:
                self._loaded[name] = model
            return model

    def put(self, model: RestorationModel) -> None:
        """Register an already built model (tests, custom weights)."""
        with self._lock:
            self.specs.setdefault(model.spec.name, model.spec)
            self._loaded[model.spec.name] = model
