"""Every model the studio and the CLI know: the official checkpoints and the bundled lite models."""
from __future__ import annotations

from pathlib import Path

from .weights.lite import LITE_MODELS
from .weights.registry import OFFICIAL_MODELS, ModelSpec

# Preference when the user asks for "auto": the best model whose weights are on this machine.
PREFERENCE = {
    "sr": ("realsr-v3", "lite-sr"),
    "inpaint": ("inpaint-imagenet", "lite-inpaint"),
    "face": ("faceir", "lite-face"),
}


def all_models() -> tuple[ModelSpec, ...]:
    return tuple(OFFICIAL_MODELS) + tuple(LITE_MODELS)


def find_model(name: str) -> ModelSpec:
    for spec in all_models():
        if spec.name == name:
            return spec
    raise KeyError(f"unknown model {name!r}")


def is_available_offline(spec: ModelSpec, weights_dir: str | Path | None = None) -> bool:
    """True when every weight file is bundled, in the weights dir or cached (no download needed)."""
    from .weights import weight_status

    return all(weight_status(f, weights_dir=weights_dir) != "downloadable" for f in spec.weight_files)


def default_model(task: str, weights_dir: str | Path | None = None, allow_download: bool = False) -> str:
    """The preferred model of ``task`` available without a download (else, if downloads are allowed,
    the first official one)."""
    order = PREFERENCE[task]
    for name in order:
        if is_available_offline(find_model(name), weights_dir):
            return name
    return order[0] if allow_download else order[-1]
