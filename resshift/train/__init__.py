"""Training ResShift-lite models: ``python -m resshift.train CONFIG.yaml [--set key=value ...]``.

- ``config``: :class:`TrainConfig` (frozen dataclass) and :func:`load_config` (YAML at the edge)
- ``objective``: the ResShift loss (x_t from the sampler's eta schedule, MSE on the x0 prediction)
- ``tasks``: loader batches -> (x0, y0, conditioning) for sr / inpaint / face
- ``loop``: the trainer (AdamW, warmup + cosine, EMA, bf16 on CUDA, checkpoints, time budget)
- ``checkpoint``: resume files, :func:`export_fp16` (EMA weights as fp16 safetensors) and
  :func:`average_exports` (the mean of several exports)
- ``validate``: PSNR of the EMA model sampled with :func:`resshift.diffusion.sample`
"""
from .checkpoint import average_exports, export_fp16, load_checkpoint, save_checkpoint
from .config import ConfigError, TrainConfig, apply_overrides, load_config
from .loop import Trainer, learning_rate, resolve_spec, train
from .objective import ResShiftObjective, TrainingPair, input_scale
from .validate import psnr, validate

__all__ = [
    "ConfigError", "TrainConfig", "apply_overrides", "load_config",
    "ResShiftObjective", "TrainingPair", "input_scale",
    "Trainer", "learning_rate", "resolve_spec", "train",
    "average_exports", "export_fp16", "load_checkpoint", "save_checkpoint", "psnr", "validate",
]
