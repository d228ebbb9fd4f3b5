"""What a request asks for, checked once against the model that will run it.

:class:`RestoreOptions` holds the sampling settings of one call (None = the model's own value);
:meth:`RestoreOptions.resolve` checks them against a model's :class:`~resshift.weights.ModelSpec`
and fills in the defaults. :class:`PhotoOptions` holds the whole-photo face settings. Both raise
:class:`~resshift.errors.InvalidRequest` with a sentence a person can read; the studio and the
command line parse strings into these types and show that sentence, they do not re-check.
"""
from __future__ import annotations

import numbers
import secrets
from dataclasses import dataclass, replace

from ..diffusion.schedule import SPACINGS
from ..errors import InvalidRequest, InvalidRequestType
from ..weights.registry import SELF_ENSEMBLES, ModelSpec, a_task_model
from .color import COLOR_FIXES

KAPPA_RANGE = (0.1, 8.0)
"""The noise scale kappa a run accepts (the released models were trained with 2)."""
SEED_LIMIT = 2 ** 63
"""Seeds are whole numbers from 0 to SEED_LIMIT - 1 (what torch.Generator.manual_seed takes)."""
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
SCALES = (1, 2, 4)
SR_SCALES = (2, 3, 4)
"""Output scales of super-resolution: every released SR model is an x4 model; x3 and x2 are its x4
result downscaled (antialiased)."""
BACKGROUNDS = ("resize", "sr")
SELECTS = ("all", "largest", "center")


def random_seed() -> int:
    """A fresh seed for a run that did not ask for one (reported in its result)."""
    return secrets.randbelow(2 ** 31)


def _one_of(name: str, value: object, allowed: tuple) -> None:
    if value not in allowed:
        raise InvalidRequest(f"{name} must be one of {', '.join(map(str, allowed))}; got {value!r}")


def whole_number(name: str, value: object) -> int:
    """``value`` as an int, or InvalidRequestType naming ``name`` (numpy integers pass; bools do not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidRequestType(f"{name} must be a whole number, got {value!r}")
    return int(value)  # numpy integers -> int


def check_tile_overlap(overlap: int, tile: int, note: str = "") -> None:
    """Refuse an overlap over half the tile: the tiles would advance by less than half their edge."""
    if overlap > tile // 2:
        raise InvalidRequest(f"tile_overlap ({overlap}) must be at most half the tile ({tile // 2}{note}): "
                             "a larger overlap multiplies the tiles")


@dataclass(frozen=True)
class RestoreOptions:
    """How to sample one request.

    steps / kappa / spacing: None = the model's own (``ModelSpec.default_steps``, the trained kappa,
    ``ModelSpec.spacing``); seed: None = a fresh random seed (reported in the result);
    tile: largest tile edge in input pixels (None = the model's default, 0 = never tile): an input
    larger than a tile is restored in three tiled stages (``stages.py``): the VQ autoencoder in
    tiles of at most ``tile`` (shrunk to the smallest edge that needs no more of them), the sampling
    chain once over the whole latent with the Swin-UNet in tiles of its own (for a VQ model at least
    ``restore.default_unet_tile``; for the weight-free pixel stage, ``tile``); tile_overlap: overlap
    in input pixels, at most half the tile (None = an eighth); batch_tiles: tiles per network call;
    precision: 'auto' (fp16 on CUDA as the official sampler; on a CPU with native bfloat16, bf16
    for the lite models and fp32 for the VQ-based ones), 'fp32', 'fp16' or 'bf16'; color_fix:
    'none', 'wavelet' or 'adain'; cuda_graphs: on CUDA, record each input shape's whole restoration
    as a CUDA graph and replay it (same output for the same seed; pays from the second call of a
    shape on; applies to inputs within one tile and to batches, while tiled inputs run their stages
    eagerly; ignored on CPU); compile: on CUDA, run the VQ autoencoder through ``torch.compile``
    (about 20 s the first time each input or tile size is seen, then faster; same output within
    half-precision rounding; ignored on CPU); scale: the output's size as a multiple of the input's
    (None = the model's own, x4 for the released SR models; a super-resolution model also makes x2
    and x3, its x4 result downscaled with an antialiased bicubic filter; the other tasks keep the
    input's size, 1); self_ensemble: how many flipped views of the input are restored and averaged
    (1, 2 or 4: as it is, mirrored left-right, upside down, both; None = the model's own,
    ``ModelSpec.self_ensemble``): the average is a steadier estimate (about +0.15 dB inside
    ``lite-inpaint``'s holes) at that many times the work.

    Construction checks what needs no model (types, kappa, seed, tiles, choices);
    :meth:`resolve` checks the rest against the model (its trained steps).
    """

    steps: int | None = None
    kappa: float | None = None
    seed: int | None = None
    spacing: str | None = None
    tile: int | None = None
    tile_overlap: int | None = None
    batch_tiles: int = 1
    precision: str = "auto"
    color_fix: str = "none"
    cuda_graphs: bool = False
    compile: bool = False
    scale: int | None = None
    self_ensemble: int | None = None

    def __post_init__(self) -> None:
        for name in ("steps", "seed", "tile", "tile_overlap", "batch_tiles", "scale", "self_ensemble"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, whole_number(name, value))
        if self.kappa is not None:
            if isinstance(self.kappa, bool) or not isinstance(self.kappa, numbers.Real):
                raise InvalidRequestType(f"kappa must be a number, got {self.kappa!r}")
            kappa = float(self.kappa)
            lo, hi = KAPPA_RANGE
            if not lo <= kappa <= hi:  # NaN and infinities too
                raise InvalidRequest(f"kappa must be from {lo:g} to {hi:g}; got {kappa:g}")
            object.__setattr__(self, "kappa", kappa)
        if self.seed is not None and not 0 <= self.seed < SEED_LIMIT:
            raise InvalidRequest(f"the seed must be a whole number from 0 to 2^63-1; got {self.seed}")
        if self.spacing is not None:
            _one_of("spacing", self.spacing, SPACINGS)
        if self.tile is not None and self.tile < 0:
            raise InvalidRequest(f"tile must be >= 0 (0 = no tiling), got {self.tile}")
        if self.tile_overlap is not None:
            if self.tile_overlap < 0:
                raise InvalidRequest(f"tile_overlap must be >= 0, got {self.tile_overlap}")
            if self.tile:
                check_tile_overlap(self.tile_overlap, self.tile)
        if self.batch_tiles < 1:
            raise InvalidRequest(f"batch_tiles must be >= 1, got {self.batch_tiles}")
        _one_of("precision", self.precision, PRECISIONS)
        _one_of("color_fix", self.color_fix, COLOR_FIXES)
        if self.scale is not None and self.scale < 1:
            raise InvalidRequest(f"the output scale must be a whole number from 1; got {self.scale}")
        if self.self_ensemble is not None:
            _one_of("self_ensemble (flipped views averaged)", self.self_ensemble, SELF_ENSEMBLES)

    def resolve(self, spec: ModelSpec) -> "RestoreOptions":
        """These options for ``spec``'s model, checked, with every default filled in: steps, kappa,
        spacing, seed, scale and self_ensemble are never None in the result. Raises InvalidRequest."""
        trained = spec.diffusion.steps
        steps = spec.default_steps if self.steps is None else self.steps
        if not 1 <= steps <= trained:
            raise InvalidRequest(f"steps must be between 1 and {trained} for {spec.name} (it was trained "
                                 f"with {trained}); got {steps}")
        return replace(self, steps=steps, kappa=spec.diffusion.kappa if self.kappa is None else self.kappa,
                       spacing=self.spacing or spec.spacing,
                       seed=random_seed() if self.seed is None else self.seed,
                       scale=check_scale(spec, self.scale),
                       self_ensemble=spec.self_ensemble if self.self_ensemble is None else self.self_ensemble)

    @property
    def resolved(self) -> bool:
        return None not in (self.steps, self.kappa, self.spacing, self.seed, self.scale, self.self_ensemble)


@dataclass(frozen=True)
class PhotoOptions:
    """Whole-photo face restoration: find every face, align, restore, paste back.

    scale: output size = input size x scale (1, 2 or 4); background: 'resize' (Lanczos) or 'sr'
    (super-resolved with an SR model, resized to the scale); select: 'all' faces, the 'largest'
    or the most central ('center'); min_face_size: faces whose box's longer side is smaller (input
    pixels) are left as they are."""

    scale: int = 1
    background: str = "resize"
    select: str = "all"
    min_face_size: int = 32

    def __post_init__(self) -> None:
        for name in ("scale", "min_face_size"):
            object.__setattr__(self, name, whole_number(name, getattr(self, name)))
        if self.scale not in SCALES:
            raise InvalidRequest(f"the output scale must be 1, 2 or 4; got {self.scale}")
        _one_of("background", self.background, BACKGROUNDS)
        _one_of("select", self.select, SELECTS)
        if self.min_face_size < 0:
            raise InvalidRequest(f"min_face_size must be >= 0 pixels, got {self.min_face_size}")


def output_scales(spec: ModelSpec) -> tuple[int, ...]:
    """The output scales ``spec``'s model makes: an x4 SR model 2, 3 and 4; a model of another
    task keeps the input's size (1)."""
    sf = spec.diffusion.sf
    if sf == 1:
        return (1,)
    return tuple(s for s in SR_SCALES if s <= sf) or (sf,)


def check_scale(spec: ModelSpec, scale: int | None) -> int:
    """``scale`` (None: the model's own) checked against ``spec``'s model (InvalidRequest)."""
    sf = spec.diffusion.sf
    if scale is None:
        return sf
    allowed = output_scales(spec)
    if scale not in allowed:
        if sf == 1:
            raise InvalidRequest(f"the model {spec.name} keeps the input's size (scale 1); got scale {scale}")
        raise InvalidRequest(f"the output scale must be {', '.join(map(str, allowed[:-1]))} or {allowed[-1]} for "
                             f"{spec.name} (an x{sf} model; x2 and x3 are its x{sf} result downscaled); got {scale}")
    return scale


def check_task(spec: ModelSpec, task: str) -> None:
    """Refuse a model of another task (InvalidRequest naming both)."""
    if spec.task != task:
        raise InvalidRequest(f"the model {spec.name} is {a_task_model(spec.task)}; choose {a_task_model(task)}")


# how a video is restored and written (resshift.pipelines.video)
NOISES = ("steady", "fresh")
MAX_BATCH = 64


@dataclass(frozen=True)
class VideoOptions:
    """How a video is restored and written (the sampling itself: :class:`RestoreOptions`).

    noise: 'steady' (one noise field from the seed for every frame) or 'fresh' (noise of its own
    for every frame: frame i's batch draws from seed + i); batch_size: frames per network call (1
    to 64; frames larger than one tile go one at a time, tiled, and whole-photo face frames one at a
    time with their faces batched); crf: the x264 quality of the output, 0 (lossless) to 51, 18
    visually lossless; preset: the x264 speed/size trade-off ('ultrafast' ... 'veryslow')."""

    noise: str = "steady"
    batch_size: int = 4
    crf: int = 18
    preset: str = "medium"

    def __post_init__(self) -> None:
        if self.noise not in NOISES:
            raise InvalidRequest(f"noise must be steady or fresh; got {self.noise!r}")
        object.__setattr__(self, "batch_size", whole_number("batch_size", self.batch_size))
        object.__setattr__(self, "crf", whole_number("crf", self.crf))
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise InvalidRequest(f"the batch size must be from 1 to {MAX_BATCH} frames; got {self.batch_size}")
        if not 0 <= self.crf <= 51:
            raise InvalidRequest(f"crf must be from 0 (lossless) to 51; got {self.crf}")
        presets = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
        if self.preset not in presets:
            raise InvalidRequest(f"preset must be one of {', '.join(presets)}; got {self.preset!r}")
