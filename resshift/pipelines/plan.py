"""How :func:`~resshift.pipelines.restore.run_model` cuts one input into network calls: padding to
the model's size multiple, the tile edge and overlap, and the tiles of each stage (``stages.py``).

Pure arithmetic on sizes (no tensors, no networks), so the same rules serve the run itself and an
estimate of its work made before any weights load (``cost.py``). Sizes are in pixels: *input*
pixels (the low-quality image), *latent* pixels (the Swin-UNet's grid: input x sf / downscale).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from .options import RestoreOptions, check_tile_overlap
from .tiling import tile_grid


@dataclass(frozen=True)
class Geometry:
    """The sizes a model works in. sf: output pixels per input pixel (4 for x4 SR, else 1);
    downscale: image pixels per latent pixel of the first stage (VQ f4: 4, f8: 8; pixel-unshuffle:
    its factor); unet_multiple: latent sizes must be multiples of this (window x 2^(levels-1));
    first_stage: 'vq' or 'pixel'."""

    sf: int
    downscale: int
    unet_multiple: int
    first_stage: str

    @classmethod
    def of(cls, sf: int, unet, first_stage, first_stage_name: str) -> "Geometry":
        """The geometry of a model's networks (real or built on the meta device)."""
        return cls(sf=sf, downscale=getattr(first_stage, "downscale", 1),
                   unet_multiple=getattr(unet, "size_multiple", 1), first_stage=first_stage_name)

    @property
    def input_multiple(self) -> int:
        """Inputs are padded to a multiple of this many input pixels (64 for the released models)."""
        return max(1, self.unet_multiple * self.downscale // self.sf)

    @property
    def to_latent(self) -> Fraction:
        """Latent pixels per input pixel."""
        return Fraction(self.sf, self.downscale)


def default_tile(geometry: Geometry, device_type: str) -> int:
    """Default tile edge in input pixels.

    The VQ autoencoder's mid-block attention is global over the tile's latent, so its cost grows
    with the square of the tile area: on CPU tiles stay small (128 px x4 SR input, 256 px otherwise);
    CUDA's fused attention affords 256 / 512. The weight-free pixel first stage has no such term.
    """
    if geometry.first_stage != "vq":
        return 512
    big = device_type == "cuda"
    if geometry.sf > 1:
        return 256 if big else 128
    return 512 if big else 256


def default_unet_tile(device_type: str) -> int:
    """The Swin-UNet's largest tile in latent pixels when a VQ model's input is restored in stages.
    Its cost grows with the tile's area, not its square, so its tiles can be larger than the
    autoencoder's: 512 on CUDA (about 3 GiB of fp16 activations for the released UNet); 256 on
    CPU, where the time per pixel is flat from 128 up (released architecture, 2-core EPYC,
    float32: 0.33 / 1.17 / 2.53 / 4.61 s at 64 / 128 / 192 / 256, peak RSS 3.4 GiB at 256;
    ``benchmarks/cpu_bound.py``)."""
    return 512 if device_type == "cuda" else 256


def padded_size(height: int, width: int, multiple: int) -> tuple[int, int]:
    """(height, width) rounded up to a multiple (the reflect padding of ``restore.pad_to_multiple``)."""
    return -(-height // multiple) * multiple, -(-width // multiple) * multiple


@dataclass(frozen=True)
class TilePlan:
    """How a padded input of height x width input pixels is restored. whole: in one call of the
    sampler (a batch, or an input within one tile); otherwise in three tiled stages with
    stage_tile (the first stage's largest tile in input pixels; 0 = whole), unet_tile (the
    Swin-UNet's largest tile in latent pixels) and overlap (input pixels)."""

    height: int
    width: int
    tile: int
    overlap: int
    whole: bool
    stage_tile: int = 0
    unet_tile: int = 0


def plan_tiles(geometry: Geometry, height: int, width: int, options: RestoreOptions, *, tile_default: int,
               unet_tile_default: int, batch: int = 1) -> TilePlan:
    """The tiles for an input already padded to ``geometry.input_multiple`` (height x width input
    pixels; ``batch`` images of that size). ``tile_default`` / ``unet_tile_default``: the tile
    edges used when ``options.tile`` is None (:func:`default_tile`, :func:`default_unet_tile` for
    the model's device). Raises InvalidRequest for an overlap over half the (rounded) tile."""
    multiple = geometry.input_multiple
    tile = options.tile if options.tile is not None else tile_default
    untiled = tile == 0
    if untiled:
        tile = max(height, width)
    tile = max(multiple, tile // multiple * multiple)
    if untiled:  # one tile: no overlap
        overlap = 0
    else:  # checked again: the options know the tile they give, not the default or rounded one
        overlap = options.tile_overlap if options.tile_overlap is not None else tile // 8
        check_tile_overlap(overlap, tile, " here")
    if batch > 1 or len(tile_grid(height, width, tile, overlap)[2]) == 1:
        return TilePlan(height, width, tile, overlap, whole=True)
    to_latent = geometry.to_latent
    if geometry.first_stage == "vq":  # the VQ's attention bounds its tiles; the UNet's may be larger
        stage_tile, unet_tile = tile, max(int(tile * to_latent), unet_tile_default)
    else:  # the weight-free pixel stage goes whole; the tile bounds the UNet
        stage_tile, unet_tile = 0, int(tile * to_latent)
    return TilePlan(height, width, tile, overlap, whole=False, stage_tile=stage_tile, unet_tile=unet_tile)


@dataclass(frozen=True)
class Grid:
    """One stage's tiles: how many, and their edge (every tile has the same size), in that
    stage's pixels."""

    tiles: int
    tile_height: int
    tile_width: int

    @property
    def area(self) -> int:
        """Pixels the stage's network sees in all: tiles x tile area (overlaps counted each time)."""
        return self.tiles * self.tile_height * self.tile_width


@dataclass(frozen=True)
class StageGrids:
    """The three stages of ``stages.restore_in_stages``: encode (input pixels), unet and decode
    (latent pixels); lat_tile / lat_overlap: the decoder's tile and every latent overlap."""

    encode: Grid
    unet: Grid
    decode: Grid
    stage_tile: int
    unet_tile: int
    lat_tile: int
    lat_overlap: int


def _grid(height: int, width: int, tile: int, overlap: int, multiple: int = 1, step: int = 1) -> Grid:
    th, tw, boxes = tile_grid(height, width, tile, overlap, multiple, step)
    return Grid(len(boxes), th, tw)


def stage_grids(height: int, width: int, *, to_latent: Fraction, unet_multiple: int, stage_tile: int,
                unet_tile: int, overlap: int) -> StageGrids:
    """The tiles of each stage for an input of height x width input pixels (a multiple of the
    model's input multiple). stage_tile: the first stage's largest tile in input pixels (<= 0:
    whole); unet_tile: the Swin-UNet's largest tile in latent pixels (rounded down to
    ``unet_multiple``); overlap: in input pixels. The same numbers ``tiled`` cuts with."""
    if stage_tile <= 0:
        stage_tile = max(height, width)
    lat_overlap = math.ceil(overlap * to_latent)
    lat_tile = max(1, int(stage_tile * to_latent))
    unet_tile = max(unet_multiple, unet_tile // unet_multiple * unet_multiple)
    lat_h, lat_w = int(height * to_latent), int(width * to_latent)
    return StageGrids(
        encode=_grid(height, width, stage_tile, overlap, step=to_latent.denominator),
        unet=_grid(lat_h, lat_w, unet_tile, lat_overlap, unet_multiple),
        decode=_grid(lat_h, lat_w, lat_tile, lat_overlap),
        stage_tile=stage_tile, unet_tile=unet_tile, lat_tile=lat_tile, lat_overlap=lat_overlap)
