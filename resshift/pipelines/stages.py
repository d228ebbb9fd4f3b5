"""Inputs larger than a tile, restored in three tiled stages instead of tile by tile.

Tiling the whole restoration (encode, sample, decode each tile) makes every stage share one tile
size, and the Swin-UNet needs tiles of a multiple of 64 latent pixels: a 1024 px input in 256 px
tiles with a 32 px overlap then takes 5 x 5 tiles, 1.56x its area, for every stage. Here each stage
is tiled on its own:

1. encode: the VQ encoder in tiles of at most ``tile`` input pixels, blended in latent space. Its
   mid-block attention is global over a tile (cost grows with the square of the tile's area), but
   its tiles need only be a multiple of the encoder's stride, so they shrink to what the overlap
   needs (5 x 5 tiles of 231 px in the example: 1.27x the input's area, and 0.66x the attention
   of a 256 px tile);
2. sample: the ResShift chain runs once over the whole latent, with one noise field (a seed gives
   the same noise whatever the tile size) and the x0 prediction of every step blended from
   overlapping Swin-UNet tiles (:class:`TiledDenoiser`), whose cost only grows with their area,
   so they can be larger;
3. decode: the VQ decoder in latent tiles, blended in pixels. The decoder quantises every latent
   pixel on its own, so tiles agree on the codes they share.

The weight-free pixel stage of the lite models goes whole; only their Swin-UNet is tiled.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Any, Callable

import torch
from torch import nn

from ..diffusion.sampler import (
    StepResult,
    autocast_context,
    decode_first_stage,
    encode_first_stage,
    sample_latent,
)
from ..diffusion.schedule import DiffusionConfig, Schedule
from ..models.unet import Condition
from ..runtime.progress import ProgressEvent
from .plan import stage_grids
from .tiling import tiled


class TiledDenoiser(nn.Module):
    """A Swin-UNet applied in overlapping latent tiles of at most ``tile`` pixels (multiples of
    ``multiple``), their x0 predictions blended: a drop-in ``model`` for :func:`iter_sample`.
    The condition (features of the low-quality image) is computed once for the whole latent and cut
    with the same tiles as x_t."""

    def __init__(self, unet: nn.Module, tile: int, overlap: int, multiple: int, batch: int = 1,
                 on_tile: Callable[[int, int], None] | None = None):
        super().__init__()
        self.unet = unet
        self.tile, self.overlap, self.multiple, self.batch = tile, overlap, multiple, batch
        self.on_tile = on_tile  # (tiles done, tiles) after every call of the network
        self.cond_lq = getattr(unet, "cond_lq", True)
        self.noise_channels = getattr(unet, "noise_channels", 0)  # input noise planes (RSD): cut like x_t

    def condition(self, **kwargs: Any) -> Condition:
        return self.unet.condition(**kwargs)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: Condition | None = None,
                **kwargs: Any) -> torch.Tensor:
        if cond is None:
            cond = self.unet.condition(**kwargs)
        parts = [x] + [p for p in (cond.features, cond.base) if p is not None]

        def one_call(tiles: list[torch.Tensor]) -> torch.Tensor:
            x_t, *rest = tiles
            features = rest.pop(0) if cond.features is not None else None
            base = rest.pop(0) if cond.base is not None else None
            return self.unet(x_t, t[:1].expand(x_t.shape[0]), cond=Condition(features, base))

        return tiled(one_call, parts, tile=self.tile, overlap=self.overlap, batch=self.batch,
                     multiple=self.multiple, on_tile=self.on_tile)


def restore_in_stages(
    unet: nn.Module,
    first_stage: Any,
    x: torch.Tensor,
    schedule: Schedule,
    config: DiffusionConfig,
    *,
    stage_tile: int,
    unet_tile: int,
    overlap: int,
    generator: torch.Generator,
    precision: str,
    batch: int = 1,
    callback: Callable[[ProgressEvent], None] | None = None,
) -> tuple[torch.Tensor, int]:
    """Restore x (1, 3 or 4, H, W) in [-1, 1] (a 4th channel: the inpainting mask) in three stages.

    stage_tile: the first stage's largest tile in input pixels (0: whole); unet_tile: the
    Swin-UNet's largest tile in latent pixels (rounded down to its ``size_multiple``); overlap: in
    input pixels. ``callback`` gets a :class:`ProgressEvent` after every tile of every stage and
    every sampling step; ``done`` counts each network call on a tile as one part of the run.
    Returns (image (1, 3, H*sf, W*sf) float32, tiles of the most tiled stage).
    """
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"x must be (1, C, H, W), got {tuple(x.shape)}")
    lq = x[:, :3]
    kwargs = {"lq": lq} if x.shape[1] == 3 else {"lq": lq, "mask": x[:, 3:4]}
    height, width = lq.shape[-2:]
    down = getattr(first_stage, "downscale", 1)
    to_latent = Fraction(config.sf, down)  # input pixels -> latent pixels
    multiple = getattr(unet, "size_multiple", 1)
    grids = stage_grids(height, width, to_latent=to_latent, unet_multiple=multiple, stage_tile=stage_tile,
                        unet_tile=unet_tile, overlap=overlap)
    stage_tile, unet_tile = grids.stage_tile, grids.unet_tile
    lat_tile, lat_overlap = grids.lat_tile, grids.lat_overlap
    stage_tiles, unet_tiles, decode_tiles = grids.encode.tiles, grids.unet.tiles, grids.decode.tiles
    device = x.device
    n = schedule.num_steps
    # a stage in one piece reports nothing
    progress = _Progress(callback, stage_tiles if stage_tiles > 1 else 0, n, unet_tiles,
                         decode_tiles if decode_tiles > 1 else 0)

    with torch.inference_mode(), autocast_context(device, precision):
        z_y = tiled(lambda t: encode_first_stage(t, config, first_stage), lq, tile=stage_tile,
                    overlap=overlap, scale=to_latent, batch=batch, on_tile=progress.encoded)
    denoiser = TiledDenoiser(unet, unet_tile, lat_overlap, multiple, batch, on_tile=progress.denoised)
    z = sample_latent(denoiser, lq, schedule, config, first_stage=first_stage, model_kwargs=kwargs,
                      generator=generator, precision=precision, z_y=z_y, callback=progress.stepped)
    with torch.inference_mode(), autocast_context(device, precision):
        out = tiled(lambda t: decode_first_stage(t, config, first_stage), z, tile=lat_tile,
                    overlap=lat_overlap, scale=down, batch=batch, on_tile=progress.decoded)
    return out, max(stage_tiles, unet_tiles)


class _Progress:
    """Turns the stages' tile counts into :class:`ProgressEvent` s: one part per network call on a
    tile (encode tiles, then steps x UNet tiles, then decode tiles)."""

    def __init__(self, callback: Callable[[ProgressEvent], None] | None, encode: int, steps: int,
                 unet_tiles: int, decode: int):
        self.callback = callback
        self.encode, self.steps, self.unet_tiles = encode, steps, unet_tiles
        self.sampled = encode + steps * unet_tiles  # parts done when sampling ends
        self.total = self.sampled + decode
        self.steps_done = 0

    def _emit(self, before: int, tile: int, tiles: int, step: StepResult | None, what: str) -> None:
        if self.callback is not None:
            self.callback(ProgressEvent(tile - 1, tiles, step, (before + tile) / self.total, what))

    def encoded(self, done: int, tiles: int) -> None:
        if tiles > 1:
            self._emit(0, done, tiles, None, f"encoding, tile {done}/{tiles}")

    def denoised(self, done: int, tiles: int) -> None:
        if done < tiles:  # the step's last tile is reported with the step
            index = self.steps_done
            self._emit(self.encode + index * tiles, done, tiles, None,
                       f"step {index + 1}/{self.steps}, tile {done}/{tiles}")

    def stepped(self, step: StepResult) -> None:
        tiles = self.unet_tiles
        self.steps_done += 1
        what = f"step {step.index + 1}/{step.total}" + (f", tile {tiles}/{tiles}" if tiles > 1 else "")
        self._emit(self.encode + step.index * tiles, tiles, tiles, step, what)

    def decoded(self, done: int, tiles: int) -> None:
        if tiles > 1:
            self._emit(self.sampled, done, tiles, None, f"decoding, tile {done}/{tiles}")
