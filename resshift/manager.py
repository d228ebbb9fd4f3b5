"""The one owner of every network a request uses: a thread-safe cache over one device, one weights
folder, one offline rule and one eviction policy (used by the library's top level, the studio and
the command line).

Restoration models (by name), the face detector, the face parser and GFPGAN (the face tab's
comparison) are loaded once and shared read-only by concurrent requests. When a network is needed
and ``max_loaded`` are already in memory (or CUDA memory is short), the least recently used one is
dropped first; a request that still holds a dropped network finishes with it.
"""
from __future__ import annotations

import gc
import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

from .errors import UnknownModelError
from .loader import RestorationModel, load_model, resolve_files
from .settings import offline_by_env, resolve_device
from .weights import KNOWN_MODELS, WeightsUnavailable, resolve_weight
from .weights.registry import ModelSpec, WeightFile

log = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]
"""progress(done_bytes, total_bytes or None) while a weight file downloads."""

# the names of the face pipeline's helper networks in their cache (no model is named like them)
FACE_DETECTOR, FACE_PARSER, GFPGAN = "<face detector>", "<face parser>", "<gfpgan>"
HELPERS_KEPT = 4  # RetinaFace or YuNet, ParseNet, GFPGAN: the face helpers fit, and never evict a model


class ModelManager:
    """specs: the models it may load (default: every known model, ``resshift.weights.KNOWN_MODELS``).
    device: 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device; weights_dir: a folder looked at
    before the cache; allow_download: False never downloads (the studio's and CLI's --offline);
    mirror: a base URL that replaces the release prefix of every download (None:
    $RESSHIFT_WEIGHTS_MIRROR)."""

    def __init__(self, specs: Iterable[ModelSpec] | None = None, *, device: str | torch.device = "cpu",
                 weights_dir: str | Path | None = None, allow_download: bool = True, max_loaded: int = 4,
                 min_free_cuda_bytes: int = 6 << 30, mirror: str | None = None):
        if specs is None:
            specs = KNOWN_MODELS
        self.specs: dict[str, ModelSpec] = {}
        for spec in specs:
            if spec.name in self.specs:
                raise ValueError(f"two models are named {spec.name!r}")
            self.specs[spec.name] = spec
        self.device = resolve_device(device)
        self.weights_dir = weights_dir
        self.allow_download = allow_download
        self.mirror = mirror
        self.max_loaded = max(1, max_loaded)
        self.min_free_cuda_bytes = min_free_cuda_bytes
        self._loaded: OrderedDict[str, Any] = OrderedDict()  # restoration models, up to max_loaded
        self._helpers: OrderedDict[str, Any] = OrderedDict()  # the face pipeline's helpers, their own cache
        self._lock = threading.Lock()
        self._name_locks: dict[str, threading.Lock] = {}
        self._unavailable: dict[str, WeightsUnavailable] = {}  # optional helpers this process cannot have
        self.no_connection: str | None = None
        """None: downloads may reach the weights host (as far as is known); else a sentence saying
        they cannot (:meth:`probe_connection` at start, or a download that could not connect): the
        models to download then read as unavailable, and a run does not try again."""

    @property
    def can_download(self) -> bool:
        """Downloads are allowed and the weights host is not known to be out of reach."""
        return self.allow_download and self.no_connection is None

    def _download_url(self) -> str | None:
        """The URL of a weight file of these models that a run would download (None: none would)."""
        from .weights import download_url, weight_status

        for spec in self.specs.values():
            for file in spec.weight_files:
                if file.url and weight_status(file, weights_dir=self.weights_dir) == "downloadable":
                    return download_url(file, self.mirror)
        return None

    def probe_connection(self, timeout: float | None = None) -> bool:
        """One short connect to the host the weights would download from (the mirror's, when one
        is set): when it does not answer within ``timeout`` seconds (default
        :data:`resshift.weights.connection.PROBE_TIMEOUT`), :attr:`no_connection` says so. True when it
        answered, or when nothing needs downloading."""
        from .weights.connection import PROBE_TIMEOUT, host_of, reachable

        url = self._download_url() if self.allow_download else None
        if url is None:
            return True
        if reachable(url, PROBE_TIMEOUT if timeout is None else timeout):
            return True
        self._lost_connection(host_of(url)[0])
        return False

    def probe_in_background(self, timeout: float | None = None) -> threading.Thread:
        """:meth:`probe_connection` in a daemon thread (a server starts without waiting for it)."""
        thread = threading.Thread(target=self.probe_connection, args=(timeout,), name="resshift-probe", daemon=True)
        thread.start()
        return thread

    def _lost_connection(self, host: str) -> None:
        if self.no_connection is None:
            log.warning("no connection to %s: models that need a download are not available", host)
        self.no_connection = f"this machine has no connection to {host}"

    def _resolve_files(self, spec: ModelSpec, progress: Progress | None):
        """resolve_files under this manager's rules; a download that cannot connect marks the
        connection lost, and with it lost no download is tried (the reason says why)."""
        from .weights.connection import host_of, is_connection_failure

        try:
            return resolve_files(spec, weights_dir=self.weights_dir, allow_download=self.can_download,
                                 progress=progress, mirror=self.mirror)
        except WeightsUnavailable as exc:
            if self.allow_download and is_connection_failure(exc.__cause__):
                self._lost_connection(host_of(exc.url or "")[0])
            elif self.allow_download and self.no_connection:
                reason = f"it is not on disk and {self.no_connection}"
                exc.args = (exc.args[0].replace(exc.reason, reason),)
                exc.reason = reason
            raise

    # ------------------------------------------------------------------ the catalogue
    def spec(self, name: str) -> ModelSpec:
        try:
            return self.specs[name]
        except KeyError:
            raise UnknownModelError(f"unknown model {name!r}; known: {', '.join(self.specs)}") from None

    def names(self, task: str | None = None) -> list[str]:
        return [n for n, s in self.specs.items() if task is None or s.task == task]

    def loaded(self) -> list[str]:
        """The names of the networks in memory, least recently used first: the restoration models,
        then the face helpers (``<face detector>``, ...)."""
        with self._lock:
            return list(self._loaded) + list(self._helpers)

    def resolve(self, file: WeightFile, progress: Progress | None = None) -> Path:
        """A weight file's path: this manager's weights folder, the bundled files, the cache, or a
        download when allowed (``resshift.weights.resolve_weight``)."""
        return resolve_weight(file, weights_dir=self.weights_dir, allow_download=self.can_download,
                              progress=progress, mirror=self.mirror)

    # ------------------------------------------------------------------ the cache
    def _evict_for_new(self, store: OrderedDict, capacity: int) -> None:
        with self._lock:
            while store and (len(store) >= capacity or self._cuda_short()):
                name, _ = store.popitem(last=False)
                log.info("unloading %s to make room", name)
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _cuda_short(self) -> bool:
        if self.device.type != "cuda" or not torch.cuda.is_available():
            return False
        free, _ = torch.cuda.mem_get_info(self.device)
        return free < self.min_free_cuda_bytes

    def _cached(self, key: str, prepare: Callable[[], Callable[[], Any]], helper: bool = False) -> Any:
        """The network cached as ``key``, else ``prepare()()``: ``prepare`` resolves the weight files
        (found or downloaded, before anything is evicted: a network that cannot be had must not cost
        a loaded one its place) and returns the builder that makes the network from them. ``helper``:
        a face helper, kept in a cache of its own (it never evicts a restoration model)."""
        store, capacity = (self._helpers, HELPERS_KEPT) if helper else (self._loaded, self.max_loaded)
        with self._lock:
            if key in store:
                store.move_to_end(key)
                return store[key]
            name_lock = self._name_locks.setdefault(key, threading.Lock())
        with name_lock:  # one load per network even when requests arrive together
            with self._lock:
                if key in store:
                    return store[key]
            build = prepare()
            self._evict_for_new(store, capacity)
            network = build()
            with self._lock:
                store[key] = network
            return network

    def get(self, name: str, progress: Progress | None = None) -> RestorationModel:
        """The loaded model called ``name`` (loading it, and its weights, on first use)."""
        spec = self.spec(name)

        def prepare():
            unet, first = self._resolve_files(spec, progress)
            return lambda: load_model(spec, device=self.device, unet_path=unet, first_stage_path=first)

        return self._cached(name, prepare)

    def fetch(self, name: str, progress: Progress | None = None) -> None:
        """Make sure the weight files of model ``name`` are on this machine (downloading them when
        allowed), without loading it; WeightsUnavailable says why when they cannot be had."""
        if name not in self.loaded():
            self._resolve_files(self.spec(name), progress)

    def put(self, model: RestorationModel) -> None:
        """Register an already built model (tests, custom weights)."""
        with self._lock:
            self.specs.setdefault(model.spec.name, model.spec)
            self._loaded[model.spec.name] = model

    # ------------------------------------------------------------------ the face pipeline's helpers
    def _optional(self, key: str, file: WeightFile, build: Callable[[Path], Any]) -> Any | None:
        """A helper network whose weights may be missing: None (once per process, logged) when
        they cannot be had."""
        if key in self._unavailable:
            return None
        try:
            return self._cached(key, lambda: (lambda path=self.resolve(file): build(path)), helper=True)
        except WeightsUnavailable as err:
            log.info("%s unavailable (%s)", file.filename, err.reason)
            self._unavailable[key] = err
            return None

    def face_detector(self):
        """The whole-photo detector: facexlib's RetinaFace (the detector GFPGAN and CodeFormer use)
        on this manager's device when its weights are on disk or can be downloaded now, else the
        bundled YuNet (OpenCV, CPU), so detection works offline."""
        from .face.detect import RETINAFACE_WEIGHTS, RetinaFaceDetector, YuNetDetector

        retina = self._optional(FACE_DETECTOR, RETINAFACE_WEIGHTS,
                                lambda path: RetinaFaceDetector.from_weights(path, device=self.device))
        return retina if retina is not None else self._cached(FACE_DETECTOR + " yunet", lambda: YuNetDetector,
                                                              helper=True)

    def face_masker(self):
        """Face-parsing paste masks (facexlib's ParseNet) on this device, or None when its weights
        cannot be had (the feathered crop square is used then)."""
        from .face.parsing import PARSENET_WEIGHTS, parsing_masker

        return self._optional(FACE_PARSER, PARSENET_WEIGHTS,
                              lambda path: parsing_masker(path, device=self.device))

    def gfpgan(self, progress: Progress | None = None):
        """GFPGAN v1.4 on this device as a ``restore_faces`` callable (for the face comparison).
        Raises WeightsUnavailable when its weights cannot be had."""
        from .face.gfpgan import GFPGAN_WEIGHTS, gfpgan_restorer

        return self._cached(GFPGAN, lambda: (
            lambda path=self.resolve(GFPGAN_WEIGHTS, progress): gfpgan_restorer(path, device=self.device)), helper=True)


_defaults: dict[str, ModelManager] = {}
_defaults_lock = threading.Lock()


def default_manager(device: str | torch.device | None = None) -> ModelManager:
    """The process's manager for ``device`` (None: RESSHIFT_DEVICE, else auto), over every known
    model, with the weights folder, cache and offline rule of the environment. The library's top
    level (``resshift.load_model``) and whole-photo runs without a manager of their own use it."""
    resolved = resolve_device(device)
    with _defaults_lock:
        manager = _defaults.get(str(resolved))
        if manager is None:
            manager = _defaults[str(resolved)] = ModelManager(device=resolved, allow_download=not offline_by_env())
        return manager
