"""Residual-shifting diffusion: the schedule and the shared sampler (networks are passed in)."""
from .sampler import (SamplerNoise, StepResult, decode_first_stage, encode_first_stage, iter_sample, sample,
                      sample_latent)
from .schedule import DEFAULT_SPACING, SPACINGS, DiffusionConfig, Schedule, exponential_sqrt_etas, respace

__all__ = [
    "DiffusionConfig", "Schedule", "exponential_sqrt_etas", "respace", "DEFAULT_SPACING", "SPACINGS",
    "iter_sample", "sample", "sample_latent", "SamplerNoise", "StepResult", "encode_first_stage", "decode_first_stage",
]
