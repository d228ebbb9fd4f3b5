"""The common restoration path of every task: pad, tile, sample, crop, finish, result.

Works on tensors in [-1, 1]; the task pipelines (sr, inpaint, face) do the image I/O around it.
"""
from __future__ import annotations

import functools
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from ..diffusion.sampler import sample
from ..diffusion.schedule import Schedule
from ..media.image import DecodedImage, ImageLike, decode_image
from ..loader import RestorationModel
from ..runtime.progress import CancelToken, ProgressEvent, check
from .result import RestoreResult
from . import plan
from .color import color_fix
from .options import RestoreOptions
from .stages import restore_in_stages

log = logging.getLogger(__name__)


def default_tile(model: RestorationModel) -> int:
    """Default tile edge in input pixels for ``model`` on its device (:func:`plan.default_tile`)."""
    return plan.default_tile(model_geometry(model), model.device.type)


def default_unet_tile(model: RestorationModel) -> int:
    """The Swin-UNet's largest tile in latent pixels for a VQ model's staged input on its device
    (:func:`plan.default_unet_tile`)."""
    return plan.default_unet_tile(model.device.type)


def model_geometry(model: RestorationModel) -> plan.Geometry:
    """The sizes ``model``'s networks work in (see :class:`plan.Geometry`)."""
    return plan.Geometry.of(model.spec.diffusion.sf, model.unet, model.first_stage, model.spec.first_stage)


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


FLIPS: tuple[tuple[int, ...], ...] = ((), (-1,), (-2,), (-2, -1))
"""The views of a geometric self-ensemble, in order: as it is, left-right, upside down, both."""


class Sampled(NamedTuple):
    """What :func:`run_model` gives back: image (B, 3, h*sf, w*sf) float32 in about [-1, 1] on the
    model's device; the schedule and seed it ran with; tiles of the most tiled stage; the flipped
    views averaged (the self-ensemble, 1 without)."""

    image: torch.Tensor
    schedule: Schedule
    seed: int
    tiles: int
    views: int = 1


def run_model(
    model: RestorationModel,
    y: torch.Tensor,
    options: RestoreOptions,
    *,
    mask: torch.Tensor | None = None,
    callback: Callable[[ProgressEvent], None] | None = None,
    cancel: CancelToken | None = None,
    shared_noise: bool = False,
) -> Sampled:
    """Restore y (B, 3, h, w) in [-1, 1] (mask (B, 1, h, w) in {-1, 1} for inpainting).

    ``options`` are resolved here against the model when the caller has not done it
    (:meth:`RestoreOptions.resolve`). ``cancel`` is checked after every sampling step and every
    tile of every stage (so also before decoding): a cancelled run raises
    :class:`~resshift.runtime.progress.Cancelled` there.

    A single image (B = 1) larger than the tile size is restored in three tiled stages
    (``stages.py``): the VQ encoder and decoder in tiles of at most ``tile`` input pixels, the
    sampling chain once over the whole latent with the Swin-UNet in tiles (at least
    :func:`default_unet_tile` latent pixels for a VQ model; for the weight-free pixel stage, which
    goes whole, ``tile``). A batch, or an input within one tile, is sampled in one call (the CUDA
    graphs apply there). Tile counts in the result are those of the most tiled stage.
    ``shared_noise``: a batch gets one noise field, the one a batch of one would get (the
    sampler's ``shared_noise``; a video's steady noise). ``options.self_ensemble`` > 1: the input is
    also restored mirrored (left-right, then upside down, then both; each view with the seed's noise
    in its own frame), each result is flipped back, and their mean is the result.
    """
    spec, device = model.spec, model.device
    sf = spec.diffusion.sf
    if not options.resolved:
        options = options.resolve(spec)
    schedule = model.schedule(options.steps, options.kappa, options.spacing)
    seed = options.seed
    precision = resolve_precision(options.precision, model)
    # the CUDA-graph replay takes sample()'s arguments and gives its result
    sampler = model.graphs.sample if options.cuda_graphs and device.type == "cuda" else sample
    unet, first_stage = model.networks(precision, compiled=options.compile)

    x = y.to(device=device, dtype=torch.float32)
    if mask is not None:
        x = torch.cat([x, mask.to(device=device, dtype=torch.float32)], dim=1)
    padded, h, w = pad_to_multiple(x, model.input_multiple)
    tiles = plan.plan_tiles(model_geometry(model), padded.shape[-2], padded.shape[-1], options,
                            tile_default=default_tile(model), unet_tile_default=default_unet_tile(model),
                            batch=x.shape[0])

    def emit(event: ProgressEvent) -> None:  # every step and tile: stop here when cancelled
        check(cancel)
        if callback is not None:
            callback(event)

    def restore_view(xv: torch.Tensor, report: Callable[[ProgressEvent], None]) -> tuple[torch.Tensor, int]:
        """(the restoration of the padded input ``xv`` cropped to the input's size, its tiles)"""
        generator = torch.Generator("cpu").manual_seed(seed)  # every view: the seed's noise, in its frame
        if tiles.whole:
            # one call: a batch of same-size inputs (e.g. aligned faces), or an input within one tile
            lq = xv[:, :3]
            kwargs = {"lq": lq} if mask is None else {"lq": lq, "mask": xv[:, 3:4]}
            out = sampler(unet, lq, schedule, spec.diffusion, first_stage=first_stage, model_kwargs=kwargs,
                          generator=generator, precision=precision, shared_noise=shared_noise,
                          callback=lambda step: report(ProgressEvent(0, 1, step)))
            count = 1
        else:
            out, count = restore_in_stages(unet, first_stage, xv, schedule, spec.diffusion,
                                           stage_tile=tiles.stage_tile, unet_tile=tiles.unet_tile,
                                           overlap=tiles.overlap, generator=generator, precision=precision,
                                           batch=options.batch_tiles, callback=report)
        return out[:, :, : h * sf, : w * sf], count

    check(cancel)
    views = FLIPS[:options.self_ensemble]
    if len(views) == 1:
        out, count = restore_view(padded, emit)
        return Sampled(out, schedule, seed, count)
    total = None
    for k, dims in enumerate(views):  # geometric self-ensemble: restore each flip, flip back, average
        def report(event: ProgressEvent, k: int = k) -> None:
            emit(ProgressEvent(event.tile, event.tiles, event.step, (k + event.fraction) / len(views),
                               f"view {k + 1}/{len(views)}, {event.describe()}"))

        # each view is padded as a plain run of the flipped input is (the padding's size is the same)
        out, count = restore_view(pad_to_multiple(x.flip(dims), model.input_multiple)[0] if dims else padded, report)
        out = out.flip(dims) if dims else out
        total = out if total is None else total + out
    return Sampled(total / len(views), schedule, seed, count, len(views))


# ------------------------------------------------------------- shared by the task pipelines
def decoded(image: ImageLike | DecodedImage, max_pixels: int | None) -> DecodedImage:
    """The input decoded once (a DecodedImage passes as it is)."""
    return image if isinstance(image, DecodedImage) else decode_image(image, max_pixels=max_pixels)


def whole(options: RestoreOptions) -> RestoreOptions:
    """Faces are restored whole (one 512x512 tile) unless a tile size is asked for explicitly."""
    return options if options.tile is not None else replace(options, tile=0)


def finish(out: torch.Tensor, y: torch.Tensor, options: RestoreOptions) -> torch.Tensor:
    """The colour fix when asked for; the output scale (a super-resolution asked for less than the
    model's x sf: its result downscaled to ``options.scale`` times ``y``'s size, bicubic with
    antialiasing); a greyscale input (R = G = B everywhere) gives a greyscale result (the networks
    work in colour and would otherwise add faint colour noise to it)."""
    if options.color_fix != "none":
        out = color_fix(out, y.to(out.device), options.color_fix)
    h, w = y.shape[-2:]
    if options.scale is not None and out.shape[-2:] != (h * options.scale, w * options.scale) \
            and out.shape[-2] > h * options.scale:
        out = F.interpolate(out.float(), size=(h * options.scale, w * options.scale), mode="bicubic",
                            align_corners=False, antialias=True).clamp(-1, 1)
    grey = ((y[:, 0] == y[:, 1]) & (y[:, 1] == y[:, 2])).flatten(1).all(dim=1).to(out.device)  # per image
    if grey.any():
        out = torch.where(grey[:, None, None, None], out.mean(dim=1, keepdim=True).expand_as(out), out)
    return out


def input_facts(img: DecodedImage) -> dict:
    """What a result says about its input beyond the run: the size of a photo fitted to a limit."""
    if img.original_size is None:
        return {}
    return {"fitted_from": "{}x{}".format(*img.original_size)}


def to_result(model: RestorationModel, image: np.ndarray, run: Sampled, started: float, *,
              img: DecodedImage | None = None, scale: int | None = None, **extra) -> RestoreResult:
    """The pipeline's result from the image it made and the run that made it; ``img``: the decoded
    input (its colour profile goes with the result); ``scale``: a super-resolution's output scale."""
    schedule = run.schedule
    return RestoreResult(image=image, model=model.spec.name, device=str(model.device),
                         seconds=time.perf_counter() - started, steps=schedule.num_steps,
                         kappa=schedule.kappa, seed=run.seed, timesteps=schedule.timesteps, tiles=run.tiles,
                         scale=scale, icc_profile=img.icc_profile if img is not None else None,
                         extra={**(input_facts(img) if img is not None else {}),
                                **({"self_ensemble": run.views} if run.views > 1 else {}), **extra})
