"""Every model the studio and the CLI know (the official checkpoints, SinSR, the bundled lite
models), where each one's weights are, and which model a task uses when none is named."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import UnknownModelError
from .pipelines.registry import TASK_REGISTRY
from .weights import KNOWN_MODELS, weight_status
from .weights.registry import ModelSpec

if TYPE_CHECKING:
    from .manager import ModelManager

# each task's official model (ResShift's real quality) and its bundled lite model: the task registry's
PREFERENCE = {name: task.preferred for name, task in TASK_REGISTRY.items()}


def comparison_set(manager: "ModelManager", task: str) -> tuple[str, ...]:
    """What a model comparison of ``task`` puts side by side by default on ``manager``'s device:
    the task's ResShift model, the one-step distillations built on it, and the bundled preview
    model (on a GPU: ResShift and its two one-step distillations, :class:`~.pipelines.registry.Task`)."""
    declared = TASK_REGISTRY.get(task)
    if declared is None:
        return ()
    if manager.device.type == "cuda" and declared.comparison_on_gpu:
        return declared.comparison_on_gpu
    return declared.comparison


# where a model's weights are, best first: one ready without a download beats one that needs it
AVAILABILITY = ("loaded", "local", "bundled", "cached", "downloadable", "offline", "missing")
READY = ("loaded", "local", "bundled", "cached")


def all_models() -> tuple[ModelSpec, ...]:
    return KNOWN_MODELS


def find_model(name: str) -> ModelSpec:
    for spec in all_models():
        if spec.name == name:
            return spec
    raise UnknownModelError(f"unknown model {name!r}; known: {', '.join(s.name for s in all_models())}")


def availability(manager: "ModelManager", name: str) -> str:
    """'loaded', 'local' (weights folder), 'bundled', 'cached', 'downloadable', 'offline' (would
    need a download but downloads are off) or 'missing'. Never touches the network."""
    if name in manager.loaded():
        return "loaded"
    return files_availability(manager, manager.spec(name).weight_files)


def files_availability(manager: "ModelManager", files) -> str:
    """Where weight files are, as :func:`availability` says it, for the least available of them."""
    worst = max((weight_status(f, weights_dir=manager.weights_dir) for f in files), key=AVAILABILITY.index)
    if worst == "downloadable" and not manager.can_download:  # downloads off, or no connection
        return "offline"
    return worst


def best_first(manager: "ModelManager", task: str) -> list[str]:
    """The models of ``task``, the one a request uses when it names none first.

    On CUDA with downloads allowed, the official model comes first even before its weights are
    here (the studio fetches them at start; a run waits for them). Otherwise models ready without a
    download come first, and among them, on a CPU, the bundled lite models (the official ones take
    minutes per image there); the official one is first on CUDA once its weights are here. A model
    already loaded comes before all of them."""
    names = manager.names(task)
    on_cuda = manager.device.type == "cuda"
    preferred = PREFERENCE.get(task, ())

    def rank(name: str) -> tuple[int, int, int]:
        where = availability(manager, name)
        ready = where in READY or (on_cuda and manager.allow_download and where == "downloadable")
        lite_first = not on_cuda and manager.spec(name).official
        order = preferred.index(name) if name in preferred else len(preferred)
        # a loaded model first (it costs nothing now), then the others ready without a download
        return (0 if where == "loaded" else 1 if ready else 2 + AVAILABILITY.index(where)), int(lite_first), order

    return sorted(names, key=rank)


def default_model_for(manager: "ModelManager", task: str) -> str | None:
    """The model of ``task`` to use when none is named (:func:`best_first`), None when there is none."""
    ranked = best_first(manager, task)
    return ranked[0] if ranked else None


def comparison_models(manager: "ModelManager", task: str) -> list[str]:
    """The models a model comparison of ``task`` runs when none are named: those of
    :func:`comparison_set` this manager has or can download (never one that is unavailable offline)."""
    return [name for name in comparison_set(manager, task) if name in manager.specs
            and availability(manager, name) not in ("offline", "missing")]


def ready_models(manager: "ModelManager", task: str) -> list[str]:
    """The models of ``task`` that run without a download, best first."""
    return [n for n in best_first(manager, task) if availability(manager, n) in READY]


def runnable_comparison(manager: "ModelManager", task: str) -> tuple[list[str], dict[str, str]]:
    """The model comparison of ``task`` that runs when none is named, as it can run now:
    (:func:`comparison_models` whose weights are here or were fetched now, topped up to two with
    the task's other models ready here; {model of :func:`comparison_set` left out: why}). Fetching
    may download."""
    from .weights import WeightsUnavailable

    wanted = comparison_models(manager, task)
    left_out = {n: "not on this machine, and this server does not download" if availability(manager, n) == "offline"
                else "its weight files are missing" for n in comparison_set(manager, task)
                if n in manager.specs and n not in wanted}
    kept: list[str] = []
    for name in wanted:
        try:
            manager.fetch(name)
        except WeightsUnavailable as exc:
            left_out[name] = f"{exc.filename} could not be had: {exc.reason}"
        else:
            kept.append(name)
    kept += [n for n in ready_models(manager, task) if n not in kept][:max(0, 2 - len(kept))]
    return kept, left_out


_PARAMETERS: dict[str, int] = {}  # architecture (its parameters as JSON) -> parameter count


def parameter_count(spec: ModelSpec) -> int:
    """The model's parameters (Swin-UNet and first stage), counted on the meta device (no memory)
    once per architecture: the page's notice asks on every load."""
    key = spec.networks_key
    if key not in _PARAMETERS:
        import torch

        from .loader import build_networks

        with torch.device("meta"):
            nets = build_networks(spec)
        _PARAMETERS[key] = sum(p.numel() for net in nets for p in net.parameters())
    return _PARAMETERS[key]


def download_bytes(spec: ModelSpec) -> int:
    """The bytes a model's weight files take to download: the registry's pinned sizes, else their
    float32 parameters (about what the released .pth files hold)."""
    if all(f.size for f in spec.weight_files):
        return sum(f.size for f in spec.weight_files)  # type: ignore[misc]
    return 4 * parameter_count(spec)
