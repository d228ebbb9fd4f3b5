"""The common restoration path of every task: pad, tile, sample, crop.

Works on tensors in [-1, 1]; the task pipelines (sr, inpaint, face) do the image I/O around it.
"""
from __future__ import annotations

import functools
import logging
import secrets
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from ..diffusion.sampler import sample
from ..diffusion.schedule import Schedule
from ..loader import RestorationModel
from .options import ProgressEvent, RestoreOptions
from .tiling import count_tiles, tiled

log = logging.getLogger(__name__)


def default_tile(model: RestorationModel) -> int:
    """Default tile edge in input pixels.

    The VQ autoencoder's mid-block attention is global over the tile's latent, so its cost grows
    with the square of the tile area: on CPU tiles stay small (128 px x4 SR input, 256 px otherwise);
    CUDA's fused attention affords 256 / 512. The weight-free pixel first stage has no such term.
    """
    if model.spec.first_stage != "vq":
        return 512
    big = model.device.type == "cuda"
    if model.spec.diffusion.sf > 1:
        return 256 if big else 128
    return 512 if big else 256


def new_seed() -> int:
    return secrets.randbits(31)


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "reflect") -> tuple[torch.Tensor, int, int]:
    """Pad (B, C, H, W) at the bottom/right to a multiple; returns (padded, H, W) of the original."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return x, h, w
    if mode == "reflect":
        # reflect needs pad < size: repeat reflections for tiny inputs
        while ph or pw:
            sh, sw = min(ph, x.shape[-2] - 1), min(pw, x.shape[-1] - 1)
            if sh == 0 and sw == 0:
                x = F.pad(x, (0, pw, 0, ph), mode="replicate")
                break
            x = F.pad(x, (0, sw, 0, sh), mode="reflect")
            ph, pw = ph - sh, pw - sw
        return x, h, w
    return F.pad(x, (0, pw, 0, ph), mode=mode), h, w


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bfloat16 natively (AVX512-BF16 or AMX): Linux cpuinfo flags."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return ("avx512_bf16" in flags or "amx_bf16" in flags) and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def resolve_precision(precision: str, model: RestorationModel) -> str:
    """'auto': fp16 autocast on CUDA (as the official sampler); on a CPU with native bfloat16, bf16
    for the weight-free first-stage (lite) models, whose output then matches float32 to ~60 dB PSNR
    (benchmarks/RESULTS.md); float32 otherwise."""
    if precision != "auto":
        return precision
    device = model.device
    if device.type == "cuda":
        return "fp16"
    if device.type == "cpu" and model.spec.first_stage == "pixel" and cpu_has_native_bf16():
        return "bf16"
    return "fp32"


def run_model(
    model: RestorationModel,
    y: torch.Tensor,
    options: RestoreOptions,
    *,
    mask: torch.Tensor | None = None,
    callback: Callable[[ProgressEvent], None] | None = None,
) -> tuple[torch.Tensor, Schedule, int, int]:
    """Restore y (B, 3, h, w) in [-1, 1] (mask (B, 1, h, w) in {-1, 1} for inpainting).

    A single image (B = 1) larger than the tile size is processed in overlapping tiles; a batch is
    sampled in one go (no tiling).

    Returns (image (1, 3, h*sf, w*sf) float32 on the model's device, schedule, seed, tile count).
    """
    spec, device = model.spec, model.device
    sf = spec.diffusion.sf
    schedule = model.schedule(options.steps, options.kappa, options.spacing)
    seed = new_seed() if options.seed is None else options.seed
    generator = torch.Generator("cpu").manual_seed(seed)
    precision = resolve_precision(options.precision, model)
    # the CUDA-graph replay takes sample()'s arguments and gives its result
    sampler = model.graphs.sample if options.cuda_graphs and device.type == "cuda" else sample
    unet, first_stage = model.networks(precision, compiled=options.compile)

    x = y.to(device=device, dtype=torch.float32)
    if mask is not None:
        x = torch.cat([x, mask.to(device=device, dtype=torch.float32)], dim=1)
    multiple = model.input_multiple
    x, h, w = pad_to_multiple(x, multiple)
    tile = options.tile if options.tile is not None else default_tile(model)
    if tile == 0:
        tile = max(x.shape[-2:])
    tile = max(multiple, tile // multiple * multiple)
    overlap = options.tile_overlap if options.tile_overlap is not None else tile // 8
    overlap = min(overlap, tile - 1)
    total_tiles = count_tiles(x.shape[-2], x.shape[-1], tile, overlap)
    done_tiles = [0]

    def restore_tiles(batch: torch.Tensor) -> torch.Tensor:
        lq = batch[:, :3]
        kwargs = {"lq": lq}
        if mask is not None:
            kwargs["mask"] = batch[:, 3:4]
        first_tile = done_tiles[0]
        report = None if callback is None else (
            lambda step: callback(ProgressEvent(first_tile, total_tiles, step)))
        out = sampler(unet, lq, schedule, spec.diffusion, first_stage=first_stage,
                      model_kwargs=kwargs, generator=generator, precision=precision, callback=report)
        done_tiles[0] += batch.shape[0]
        return out

    if x.shape[0] > 1:  # a batch of same-size inputs (e.g. aligned faces): one network call, no tiling
        total_tiles = 1
        out = restore_tiles(x)
    else:
        out = tiled(restore_tiles, x, tile=tile, overlap=overlap, scale=sf, batch=options.batch_tiles,
                    multiple=multiple)
    return out[:, :, : h * sf, : w * sf], schedule, seed, total_tiles
