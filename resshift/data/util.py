"""Small random helpers shared by the degradation pipelines (explicit generators only)."""
from __future__ import annotations

import numpy as np
import torch


def uniform(n: int, value_range: tuple[float, float], generator: torch.Generator,
            device: torch.device | str) -> torch.Tensor:
    """(n,) float32 drawn uniformly from [low, high) on ``device`` (the generator's device)."""
    low, high = float(value_range[0]), float(value_range[1])
    return torch.rand(n, generator=generator, device=device) * (high - low) + low


def cpu_generator(seed: int) -> torch.Generator:
    """A CPU torch.Generator seeded with ``seed``."""
    g = torch.Generator()
    g.manual_seed(int(seed))
    return g


def generator_for(device: torch.device | str, seed: int) -> torch.Generator:
    """A torch.Generator on ``device`` seeded with ``seed``."""
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def choose(options: int, probs: tuple[float, ...] | None, generator: torch.Generator) -> int:
    """An index in range(options), with ``probs`` (normalised) or uniformly; drawn on the CPU."""
    if probs is None:
        return int(torch.randint(options, (1,), generator=generator))
    weights = torch.tensor(probs, dtype=torch.float64)
    return int(torch.multinomial(weights / weights.sum(), 1, generator=generator))


def draw(generator: torch.Generator) -> float:
    """One float uniformly in [0, 1) from a CPU generator."""
    return float(torch.rand(1, generator=generator, dtype=torch.float64))


def to_uint8_levels(img: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 1] and round to the 256 levels of an 8-bit image (values stay float in [0, 1])."""
    return (img * 255.0).round().clamp(0, 255) / 255.0


def np_to_uint8_levels(img: np.ndarray) -> np.ndarray:
    """numpy twin of :func:`to_uint8_levels` (float32 result)."""
    return (np.clip(np.round(img * 255.0), 0, 255) / 255.0).astype(np.float32)
