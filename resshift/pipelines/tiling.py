"""Overlapping tiles blended with smooth weights: a pure function, independent of the model.

Memory is bounded by the tile size: the network only ever sees tiles; only the output and its weight
map have the full image size.
"""
from __future__ import annotations

import math
from fractions import Fraction
from typing import Callable, Sequence

import torch


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of size ``tile`` covering [0, length) with at least ``overlap`` overlap.

    The last tile ends exactly at ``length``; every tile has the same size (length >= tile).
    """
    if tile >= length:
        return [0]
    if not 0 <= overlap < tile:
        raise ValueError(f"overlap must be in [0, tile), got overlap={overlap}, tile={tile}")
    count = math.ceil((length - overlap) / (tile - overlap))
    if count == 1:
        return [0]
    stride = (length - tile) / (count - 1)
    return [int(round(i * stride)) for i in range(count)]


def balanced_tile(length: int, tile: int, overlap: int, multiple: int = 1) -> int:
    """The tile edge to use along an axis of ``length``: the smallest multiple of ``multiple`` (at
    most ``tile``) that covers it with as many tiles as ``tile`` needs, each overlapping the next by
    at least ``overlap``. The same number of network calls on less area: covering 1024 px with
    512 px tiles and a 64 px overlap takes 3 tiles, which 384 px tiles also do (1.8x less work).
    ``length`` and ``tile`` are multiples of ``multiple``."""
    if tile >= length:
        return length
    count = len(tile_starts(length, tile, overlap))
    edge = -(-(length + (count - 1) * overlap) // count)  # ceil: count tiles of edge, overlap >= overlap
    return min(tile, -(-edge // multiple) * multiple)


def ramp_weights(size: int, fade: int, at_start: bool, at_end: bool, device=None) -> torch.Tensor:
    """(size,) weights: a raised-cosine fade of ``fade`` samples at the sides that meet other tiles."""
    w = torch.ones(size, dtype=torch.float32, device=device)
    fade = min(fade, size // 2)
    if fade > 0:
        # strictly positive, so every output pixel has a weight even where only one tile reaches
        ramp = 0.5 - 0.5 * torch.cos(torch.linspace(0, math.pi, fade + 2, device=device)[1:-1])
        if at_start:
            w[:fade] = ramp
        if at_end:
            w[-fade:] = ramp.flip(0)
    return w


def tile_grid(height: int, width: int, tile: int, overlap: int, multiple: int = 1,
              step: int = 1) -> tuple[int, int, list[tuple[int, int]]]:
    """(tile height, tile width, [(top, left), ...]) of the tiles :func:`tiled` uses.

    Edges are multiples of ``multiple`` and, like every start, of ``step`` (the input pixels that make
    one output pixel when the output is smaller, e.g. 4 for an encoder that downsamples 4x)."""
    if height % step or width % step:
        raise ValueError(f"the input ({height}x{width}) must be a multiple of {step}")
    unit = math.lcm(multiple, step) // step  # edge multiple, in steps
    tile_s = max(unit, tile // step // unit * unit)
    overlap_s = min(-(-overlap // step), tile_s - 1)  # an overlap of a whole tile would never advance
    edges, starts = [], []
    for length in (height // step, width // step):
        edge = balanced_tile(length, tile_s, overlap_s, unit)  # the whole length when it fits
        edges.append(edge * step)
        starts.append([s * step for s in tile_starts(length, edge, overlap_s)])
    return edges[0], edges[1], [(y, x) for y in starts[0] for x in starts[1]]


def tiled(
    fn: Callable[..., torch.Tensor],
    x: torch.Tensor | Sequence[torch.Tensor],
    *,
    tile: int,
    overlap: int,
    scale: int | Fraction = 1,
    batch: int = 1,
    on_tile: Callable[[int, int], None] | None = None,
    multiple: int = 1,
) -> torch.Tensor:
    """Apply ``fn`` to overlapping tiles of ``x`` and blend the results.

    x: (1, C, H, W), or a sequence of such tensors with the same H and W, which are cut alike and
    handed to fn as a list. fn maps (B, C, th, tw) -> (B, C', th*scale, tw*scale), with th, tw at most
    ``tile``, as small as the tile count allows (:func:`balanced_tile`; multiples of ``multiple``):
    every tile has the same size, so up to ``batch`` tiles go through ``fn`` at once. A fractional
    ``scale`` (e.g. ``Fraction(1, 4)`` for an encoder) puts every tile edge and start on a multiple
    of its denominator. Returns (1, C', H*scale, W*scale) float32 on fn's output device.
    ``on_tile(done, total)`` reports progress.
    """
    parts = [x] if isinstance(x, torch.Tensor) else list(x)
    for part in parts:
        if part.ndim != 4 or part.shape[0] != 1 or part.shape[-2:] != parts[0].shape[-2:]:
            raise ValueError(f"x must be (1, C, H, W) tensors of one size, got {tuple(part.shape)}")
    scale = Fraction(scale)
    h, w = parts[0].shape[-2:]
    th, tw, boxes = tile_grid(h, w, tile, overlap, multiple, scale.denominator)
    if len(boxes) == 1:
        out = fn(x)
        if on_tile:
            on_tile(1, 1)
        return out.float()
    out = weight = None
    oh, ow = int(th * scale), int(tw * scale)
    fade = int(overlap * scale)
    for first in range(0, len(boxes), batch):
        chunk = boxes[first:first + batch]
        cut = [torch.cat([p[:, :, y0:y0 + th, x0:x0 + tw] for y0, x0 in chunk], dim=0) for p in parts]
        result = fn(cut[0] if isinstance(x, torch.Tensor) else cut)
        if out is None:
            out = torch.zeros(1, result.shape[1], int(h * scale), int(w * scale), dtype=torch.float32,
                              device=result.device)
            weight = torch.zeros(1, 1, out.shape[2], out.shape[3], dtype=torch.float32, device=result.device)
        for k, (y0, x0) in enumerate(chunk):
            wy = ramp_weights(oh, fade, y0 > 0, y0 + th < h, result.device)
            wx = ramp_weights(ow, fade, x0 > 0, x0 + tw < w, result.device)
            wt = wy[:, None] * wx[None, :]
            sy, sx = int(y0 * scale), int(x0 * scale)
            out[:, :, sy:sy + oh, sx:sx + ow] += result[k:k + 1].float() * wt
            weight[:, :, sy:sy + oh, sx:sx + ow] += wt
        if on_tile:
            on_tile(min(first + batch, len(boxes)), len(boxes))
    return out / weight

