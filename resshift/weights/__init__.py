"""Model weights: what exists (registry), where it comes from (download), how it is read
(safe_load)."""
from .download import (
    ENV_CACHE_DIR,
    ENV_WEIGHTS_DIR,
    WeightsUnavailable,
    assets_dir,
    default_cache_dir,
    resolve_weight,
    weight_status,
)
from .registry import OFFICIAL_MODELS, OFFICIAL_RELEASE, TASKS, ModelSpec, WeightFile
from .safe_load import UnsafeWeightsError, WeightsLoadError, load_into, load_state_dict

__all__ = [
    "ENV_CACHE_DIR", "ENV_WEIGHTS_DIR", "OFFICIAL_MODELS", "OFFICIAL_RELEASE", "TASKS",
    "ModelSpec", "UnsafeWeightsError", "WeightFile", "WeightsLoadError", "WeightsUnavailable",
    "assets_dir", "default_cache_dir", "load_into", "load_state_dict", "resolve_weight",
    "weight_status",
]
