"""Model weights: what exists (registry), where it comes from (download), how it is read
(safe_load)."""
from ..settings import ENV_CACHE_DIR, ENV_MIRROR, ENV_VERIFY, ENV_WEIGHTS_DIR
from .download import (
    WeightsUnavailable,
    assets_dir,
    default_cache_dir,
    download_url,
    resolve_weight,
    verify_pins,
    mismatched_copy,
    weight_status,
    weights_folder,
)
from .registry import OFFICIAL_MODELS, OFFICIAL_RELEASE, TASKS, ModelSpec, WeightFile
from .safe_load import (
    UnsafeWeightsError,
    WeightsLoadError,
    check_layout,
    checkpoint_validator,
    layout_of,
    load_into,
    load_state_dict,
)

from .lite import LITE_MODELS

KNOWN_MODELS = tuple(OFFICIAL_MODELS) + tuple(LITE_MODELS)
"""Every model this library knows: the official checkpoints (and SinSR), then the bundled lite ones."""

__all__ = [
    "KNOWN_MODELS", "LITE_MODELS", "ENV_CACHE_DIR", "ENV_MIRROR", "ENV_VERIFY", "ENV_WEIGHTS_DIR", "OFFICIAL_MODELS",
    "OFFICIAL_RELEASE", "TASKS", "ModelSpec", "UnsafeWeightsError", "WeightFile",
    "WeightsLoadError", "WeightsUnavailable", "assets_dir", "check_layout", "checkpoint_validator",
    "default_cache_dir", "download_url", "layout_of", "load_into", "load_state_dict",
    "mismatched_copy", "resolve_weight", "verify_pins", "weight_status", "weights_folder",
]
