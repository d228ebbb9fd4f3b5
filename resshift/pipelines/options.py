"""Per-call options and results shared by the task pipelines."""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from ..diffusion.sampler import StepResult
from ..diffusion.schedule import DEFAULT_SPACING, SPACINGS
from .color import COLOR_FIXES


def check_tile_overlap(overlap: int, tile: int, note: str = "") -> None:
    """Refuse an overlap over half the tile: the tiles would advance by less than half their edge."""
    if overlap > tile // 2:
        raise ValueError(f"tile_overlap ({overlap}) must be at most half the tile ({tile // 2}{note}): "
                         "a larger overlap multiplies the tiles")


@dataclass(frozen=True)
class RestoreOptions:
    """How to sample one request.

    steps / kappa: None = the model's trained values; seed: None = a fresh random seed (reported in
    the result); tile: largest tile edge in input pixels (None = the model's default, 0 = never
    tile): an input larger than a tile is restored in three tiled stages (``stages.py``): the VQ
    autoencoder in tiles of at most ``tile`` (shrunk to the smallest edge that needs no more of
    them), the sampling chain once over the whole latent with the Swin-UNet in tiles of its own
    (for a VQ model at least ``restore.default_unet_tile``; for the weight-free pixel stage,
    ``tile``); tile_overlap: overlap in input pixels, at most half the tile (None = an eighth);
    batch_tiles: tiles per network call;
    precision: 'auto' (fp16 on CUDA as the official sampler; on a CPU with native bfloat16, bf16
    for the lite models and fp32 for the VQ-based ones), 'fp32', 'fp16' or 'bf16'; cuda_graphs: on
    CUDA, record each input shape's whole restoration as a CUDA graph and replay it (same output for
    the same seed; pays from the second call of a shape on; applies to inputs within one tile and to
    batches, while tiled inputs run their stages eagerly; ignored on CPU); compile: on CUDA, run the
    VQ autoencoder through ``torch.compile`` (about 20 s the first time each input or tile size is
    seen, then faster; same output within half-precision rounding; ignored on CPU).
    """

    steps: int | None = None
    kappa: float | None = None
    seed: int | None = None
    spacing: str = DEFAULT_SPACING
    tile: int | None = None
    tile_overlap: int | None = None
    batch_tiles: int = 1
    precision: str = "auto"
    color_fix: str = "none"
    cuda_graphs: bool = False
    compile: bool = False

    def __post_init__(self) -> None:
        for name in ("steps", "seed", "tile", "tile_overlap", "batch_tiles"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"{name} must be a whole number, got {value!r}")
            object.__setattr__(self, name, int(value))  # numpy integers -> int
        if self.kappa is not None:
            if isinstance(self.kappa, bool) or not isinstance(self.kappa, numbers.Real):
                raise TypeError(f"kappa must be a number, got {self.kappa!r}")
            if not 0 < self.kappa < math.inf:
                raise ValueError(f"kappa must be a finite number > 0, got {self.kappa}")
            object.__setattr__(self, "kappa", float(self.kappa))
        if self.steps is not None and self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.seed is not None and not 0 <= self.seed < 2 ** 63:
            raise ValueError("seed must be a non-negative 64-bit integer")
        if self.spacing not in SPACINGS:
            raise ValueError(f"spacing must be one of {SPACINGS}")
        if self.tile is not None and self.tile < 0:
            raise ValueError("tile must be >= 0")
        if self.tile_overlap is not None:
            if self.tile_overlap < 0:
                raise ValueError(f"tile_overlap must be >= 0, got {self.tile_overlap}")
            if self.tile:
                check_tile_overlap(self.tile_overlap, self.tile)
        if self.batch_tiles < 1:
            raise ValueError("batch_tiles must be >= 1")
        if self.precision not in ("auto", "fp32", "fp16", "bf16"):
            raise ValueError("precision must be auto, fp32, fp16 or bf16")
        if self.color_fix not in COLOR_FIXES:
            raise ValueError(f"color_fix must be one of {COLOR_FIXES}")


@dataclass(frozen=True)
class ProgressEvent:
    """Reported after every sampling step and, for a tiled input, after every tile of every stage.

    tile / tiles: the tile just done and how many the stage has; step: the sampling step, once it
    is complete (None for the tiles of the encoder and decoder and the Swin-UNet's tiles within a
    step); done: the fraction of the run done, when the pipeline counts it itself; what: the
    pipeline's words for it ('decoding, tile 3/9')."""

    tile: int  # 0-based
    tiles: int
    step: StepResult | None
    done: float | None = None
    what: str = ""

    @property
    def fraction(self) -> float:
        if self.done is not None:
            return self.done
        if self.step is None:
            return (self.tile + 1) / self.tiles
        return (self.tile * self.step.total + self.step.index + 1) / (self.tiles * self.step.total)

    def describe(self) -> str:
        """'step 3/4', 'tile 2/4, step 3/4', or the pipeline's own words."""
        if self.what or self.step is None:
            return self.what or f"tile {self.tile + 1}/{self.tiles}"
        tile = f"tile {self.tile + 1}/{self.tiles}, " if self.tiles > 1 else ""
        return f"{tile}step {self.step.index + 1}/{self.step.total}"


@dataclass(frozen=True, eq=False)
class RestoreResult:
    """image: (H, W, 3) or (H, W, 4) uint8; the rest describes the run."""

    image: np.ndarray
    model: str
    steps: int
    kappa: float
    seed: int
    timesteps: tuple[int, ...]
    device: str
    seconds: float
    tiles: int
    extra: dict = field(default_factory=dict)

    def facts(self) -> dict:
        h, w = self.image.shape[:2]
        return {"model": self.model, "steps": self.steps, "kappa": self.kappa, "seed": self.seed,
                "timesteps": list(self.timesteps), "device": self.device,
                "seconds": round(self.seconds, 3), "tiles": self.tiles, "size": f"{w}x{h}", **self.extra}
