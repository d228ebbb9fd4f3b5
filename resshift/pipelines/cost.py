"""The work of a request, estimated before it runs: floating-point operations (FLOP) of every
network call that :func:`~resshift.pipelines.restore.run_model` would make.

A request's work is not its pixel count. The input is padded to the model's size multiple (64
input pixels for the released SR models: a 4x16384 strip is sampled as 64x16384, 16 times its
pixels) and cut into overlapping tiles (``plan.py``), and every tile passes through the first
stage's encoder, ``steps`` times through the Swin-UNet and once through the decoder. So the
estimate is::

    condition(padded input) + sum over stages of tiles x network(tile)   [UNet: x steps]

with each network's FLOP on an ``h x w`` call being ``c + a * h * w + b * (h * w) ** 2``:
convolutions and windowed (Swin) attention grow with the area, the VQ autoencoder's global
mid-block attention with its square. The coefficients are counted per architecture with ``torch.utils.flop_counter``
on networks that hold no memory (fake tensors), at three sizes, so a lite model (a small UNet, a
weight-free first stage) and an official one each get their own cost per pixel. On a CPU the
FLOP track the time: 345 / 671 / 101 GFLOP for the released VQ encoder, decoder and a UNet step
at 64->256 took 0.99 / 2.00 / 0.33 s (benchmarks/RESULTS.md), 300-350 GFLOP/s each.

Nothing here loads weights; the first estimate for an architecture takes a few seconds (the
networks are built on the meta device and run on fake tensors) and is kept for the process.
"""
from __future__ import annotations

import math
import threading
import warnings
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

from ..weights.registry import ModelSpec
from .options import RestoreOptions
from .plan import Geometry, StageGrids, TilePlan, default_tile, default_unet_tile, padded_size, plan_tiles, stage_grids


@dataclass(frozen=True)
class NetworkCost:
    """FLOP of one network call on h x w pixels (its own input's pixels, batch 1), n = h * w:
    ``per_call + per_pixel * n + per_pixel_sq * n ** 2`` (per_call: what does not grow with the
    image, e.g. the UNet's timestep embedding)."""

    per_call: float = 0.0
    per_pixel: float = 0.0
    per_pixel_sq: float = 0.0

    def flops(self, height: int, width: int) -> float:
        n = height * width
        return self.per_call + self.per_pixel * n + self.per_pixel_sq * n * n

    @classmethod
    def fit(cls, points: list[tuple[int, float]]) -> "NetworkCost":
        """The exact c + a n + b n^2 through three measurements (n pixels, f FLOP), solved in
        rationals (FLOP counts are whole numbers)."""
        (n1, f1), (n2, f2), (n3, f3) = ((Fraction(n), Fraction(f)) for n, f in points)
        d1, d2 = (f2 - f1) / (n2 - n1), (f3 - f2) / (n3 - n2)  # divided differences
        b = (d2 - d1) / (n3 - n1)
        a = d1 - b * (n1 + n2)
        return cls(float(f1 - a * n1 - b * n1 * n1), float(a), float(b))


@dataclass(frozen=True)
class ModelCost:
    """The networks of one architecture and the sizes they work in.

    condition: the Swin-UNet's condition (features of the low-quality input, once per request),
    on input pixels; unet: one Swin-UNet call, on latent pixels; encode: the first stage's
    encoder, on its input (the input x sf, bicubic-upsampled); decode: the decoder, on latent
    pixels."""

    geometry: Geometry
    condition: NetworkCost
    unet: NetworkCost
    encode: NetworkCost
    decode: NetworkCost


def _architecture_key(spec: ModelSpec) -> str:
    """What the networks' cost depends on (models sharing an architecture share it)."""
    return f"{spec.networks_key} sf={spec.diffusion.sf}"


_COSTS: dict[str, ModelCost] = {}  # architecture key -> cost: numbers only, never networks
_COSTS_LOCK = threading.Lock()


def model_cost(spec: ModelSpec) -> ModelCost:
    """The FLOP per call of ``spec``'s networks (counted once per architecture, then kept: a few
    numbers per architecture)."""
    key = _architecture_key(spec)
    with _COSTS_LOCK:
        cost = _COSTS.get(key)
        if cost is None:
            cost = _COSTS[key] = _count(spec)
        return cost


def _count(spec: ModelSpec) -> ModelCost:
    """Build the networks without memory and count their FLOP at three sizes."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode  # fake tensors: shapes only, no data
    from torch.utils.flop_counter import FlopCounterMode

    from ..loader import build_networks

    with torch.device("meta"):
        unet, first = build_networks(spec)
    geometry = Geometry.of(spec.diffusion.sf, unet, first, spec.first_stage)

    def flop(fn: Callable[[], object]) -> float:
        with FlopCounterMode(display=False) as counter:
            fn()
        return float(counter.get_total_flops())

    measured: dict[str, list[tuple[int, float]]] = {"condition": [], "unet": [], "encode": [], "decode": []}
    with warnings.catch_warnings():
        # the Swin blocks key a cache on data_ptr(), which fake tensors warn about (nothing is cached here)
        warnings.filterwarnings("ignore", message="Accessing the data pointer of FakeTensor")
        with FakeTensorMode(allow_non_fake_inputs=True), torch.no_grad():
            unet, first = unet.to_empty(device="cpu"), first.to_empty(device="cpu")
            for k in (1, 2, 3):
                lat = geometry.unet_multiple * k  # latent edge: a size every network takes
                inp = int(lat / geometry.to_latent)  # input edge
                lq = torch.zeros(1, 3, inp, inp)
                masked = {"mask": torch.zeros(1, 1, inp, inp)} if getattr(unet, "cond_mask", False) else {}
                cond = None
                if getattr(unet, "noise_channels", 0):  # noise planes at the latent size (RSD)
                    masked["noise"] = torch.zeros(1, unet.noise_channels, lat, lat)
                if getattr(unet, "cond_lq", True):
                    def condition():
                        nonlocal cond
                        cond = unet.condition(lq, **masked)
                    measured["condition"].append((inp * inp, flop(condition)))
                else:
                    measured["condition"].append((inp * inp, 0.0))
                z = first.encode(torch.zeros(1, 3, inp * geometry.sf, inp * geometry.sf))
                x = torch.zeros(1, z.shape[1], lat, lat)
                t = torch.zeros(1, dtype=torch.long)
                measured["unet"].append((lat * lat, flop(lambda: unet(x, t, cond=cond))))
                enc = (inp * geometry.sf) ** 2
                measured["encode"].append((enc, flop(lambda: first.encode(torch.zeros(1, 3, inp * geometry.sf,
                                                                                     inp * geometry.sf)))))
                measured["decode"].append((lat * lat, flop(lambda: first.decode(x))))
    fits = {name: NetworkCost.fit(points) for name, points in measured.items()}
    return ModelCost(geometry, **fits)


@dataclass(frozen=True)
class WorkEstimate:
    """What running a request would take. size / padded: the input's (width, height) and after
    padding to the model's multiple; steps: sampling steps; plan: the tiling (``plan.py``);
    grids: each stage's tiles (None when it runs in one call); flops: the total."""

    model: str
    size: tuple[int, int]
    padded: tuple[int, int]
    steps: int
    plan: TilePlan
    grids: StageGrids | None
    flops: float
    input_multiple: int

    @property
    def tiles(self) -> int:
        """As ``RestoreResult.tiles``: the tiles of the most tiled stage (1 in one call)."""
        if self.grids is None:
            return 1
        return max(self.grids.encode.tiles, self.grids.unet.tiles)

    @property
    def padding(self) -> float:
        """Padded pixels per input pixel (1.0: no padding)."""
        return self.padded[0] * self.padded[1] / (self.size[0] * self.size[1])


def estimate_work(spec: ModelSpec, size: tuple[int, int], options: RestoreOptions = RestoreOptions(), *,
                  device_type: str = "cpu", batch: int = 1, cost: ModelCost | None = None) -> WorkEstimate:
    """The FLOP of restoring an image of ``size`` = (width, height) input pixels with ``spec``'s
    model on a device of ``device_type`` ('cpu' or 'cuda': the default tiles differ) with
    ``options`` (resolved against the spec here; the seed and kappa do not matter), the padding
    and tiles exactly as ``run_model`` makes them, times the self-ensemble's views. ``batch``: same-size images in one call (aligned
    faces). Raises InvalidRequest for options the model refuses."""
    options = options.resolve(spec) if not options.resolved else options
    cost = cost or model_cost(spec)
    geo = cost.geometry
    width, height = size
    ph, pw = padded_size(height, width, geo.input_multiple)
    tiles = plan_tiles(geo, ph, pw, options, tile_default=default_tile(geo, device_type),
                       unet_tile_default=default_unet_tile(device_type), batch=batch)
    steps = options.steps
    sf = geo.sf
    condition = cost.condition.flops(ph, pw)
    if tiles.whole:
        lat_h, lat_w = int(ph * geo.to_latent), int(pw * geo.to_latent)
        flops = (condition + cost.encode.flops(ph * sf, pw * sf) + steps * cost.unet.flops(lat_h, lat_w)
                 + cost.decode.flops(lat_h, lat_w)) * batch
        grids = None
    else:
        grids = stage_grids(ph, pw, to_latent=geo.to_latent, unet_multiple=geo.unet_multiple,
                            stage_tile=tiles.stage_tile, unet_tile=tiles.unet_tile, overlap=tiles.overlap)
        g = grids
        flops = (condition
                 + g.encode.tiles * cost.encode.flops(g.encode.tile_height * sf, g.encode.tile_width * sf)
                 + steps * g.unet.tiles * cost.unet.flops(g.unet.tile_height, g.unet.tile_width)
                 + g.decode.tiles * cost.decode.flops(g.decode.tile_height, g.decode.tile_width))
    flops *= options.self_ensemble  # each flipped view is a whole restoration
    return WorkEstimate(spec.name, (width, height), (pw, ph), steps, tiles, grids, flops, geo.input_multiple)


def equivalent_side(spec: ModelSpec, flops: float, options: RestoreOptions = RestoreOptions(), *,
                    device_type: str = "cpu", largest: int = 1 << 16) -> int:
    """The side of the largest square image whose restoration with the same model and options
    takes at most ``flops`` (at least 1, at most ``largest``): how a request's work is said to a
    person ("as long as a 1024x1024 image")."""
    options = options.resolve(spec) if not options.resolved else options
    cost = model_cost(spec)
    lo, hi = 1, largest
    while lo < hi:  # the work grows with the side (in steps, as the padding does)
        mid = (lo + hi + 1) // 2
        if estimate_work(spec, (mid, mid), options, device_type=device_type, cost=cost).flops <= flops:
            lo = mid
        else:
            hi = mid - 1
    return lo


def square_side(pixels: int) -> int:
    """The side of a square of at least ``pixels`` pixels."""
    return max(1, math.isqrt(max(pixels, 1) - 1) + 1)
