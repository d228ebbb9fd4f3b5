"""Swin transformer layer used inside ResShift's Swin-UNet (channels-first variant).

Window attention over non-overlapping ``window_size`` x ``window_size`` windows, alternating with
shifted windows (shift = window_size // 2), with a learned relative-position bias. The attention
mask of shifted windows depends on the feature-map size, so it is computed for the actual runtime
size (and cached per size); the ``attn_mask`` buffer exists only so official checkpoints load.
Parameter names follow the official implementation.
"""
from __future__ import annotations

import threading

import torch
import torch.nn.functional as F
from torch import nn

from .layers import GroupNorm32

_MASK_VALUE = -100.0  # the official additive mask value between different shifted regions


def relative_position_index(window_size: int) -> torch.Tensor:
    """(N, N) int64 index into the (2w-1)^2 bias table for every pair of tokens in a window."""
    coords = torch.stack(
        torch.meshgrid(torch.arange(window_size), torch.arange(window_size), indexing="ij")
    ).flatten(1)  # 2, N
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)  # N, N, 2
    rel = rel + (window_size - 1)
    return rel[..., 0] * (2 * window_size - 1) + rel[..., 1]


def shifted_window_mask(height: int, width: int, window_size: int, shift: int) -> torch.Tensor:
    """(nW, N, N) additive mask (0 or -100) for shifted-window attention, as the official code builds it.

    The official code labels the regions with ``img_mask[:, h, w, :]`` on a (1, 1, H, W) tensor, so
    the slices land on the channel and height axes, and it flattens each window column-major. The
    released checkpoints were trained with that mask, so it is reproduced here exactly.
    """
    img = torch.zeros(1, 1, height, width)
    cuts = (slice(0, -window_size), slice(-window_size, -shift), slice(-shift, None))
    label = 0
    for first in cuts:
        for second in cuts:
            img[:, first, second, :] = label
            label += 1
    windows = partition_windows(img, window_size).permute(0, 2, 3, 1).reshape(-1, window_size * window_size)
    diff = windows[:, None, :] - windows[:, :, None]
    return torch.where(diff != 0, torch.tensor(_MASK_VALUE), torch.tensor(0.0))


def partition_windows(x: torch.Tensor, window_size: int) -> torch.Tensor:
    """(B, C, H, W) -> (B * nW, ws, ws, C), windows in row-major order per image."""
    b, c, h, w = x.shape
    x = x.view(b, c, h // window_size, window_size, w // window_size, window_size)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(-1, window_size, window_size, c)


def merge_windows(windows: torch.Tensor, window_size: int, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`partition_windows`: (B * nW, ws, ws, C) -> (B, C, H, W)."""
    c = windows.shape[-1]
    nh, nw = height // window_size, width // window_size
    x = windows.view(-1, nh, nw, window_size, window_size, c)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(-1, c, height, width)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden, 1)
        self.act = nn.GELU()
        self.fc2 = nn.Conv2d(hidden, dim, 1)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows with a relative-position bias."""

    def __init__(self, dim: int, window_size: int, num_heads: int, attn_drop: float = 0.0,
                 proj_drop: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"swin embed dim {dim} is not divisible by {num_heads} heads")
        self.dim = dim
        self.window_size = window_size
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window_size - 1) ** 2, num_heads)
        )
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        self.register_buffer("relative_position_index", relative_position_index(window_size))
        self.qkv = nn.Linear(dim, dim * 3)
        self.attn_drop = attn_drop
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self._bias_cache: tuple | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_bias_cache"] = None  # copies and pickles recompute it
        return state

    def position_bias(self, dtype: torch.dtype) -> torch.Tensor:
        """(nH, N, N) relative-position bias; cached in inference (keyed on the table's version)."""
        table = self.relative_position_bias_table
        # inference tensors have no version counter (and cannot change outside inference mode)
        version = -1 if table.is_inference() else table._version
        key = (dtype, table.device, version, table.data_ptr())
        cached = self._bias_cache
        if cached is not None and cached[0] == key and not torch.is_grad_enabled():
            return cached[1]
        n = self.window_size * self.window_size
        bias = table[self.relative_position_index.view(-1)].view(n, n, self.num_heads).permute(2, 0, 1)
        bias = bias.to(dtype).contiguous()
        if not torch.is_grad_enabled():
            self._bias_cache = (key, bias)
        return bias

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B*nW, N, C); mask: (nW, N, N) additive or None. Returns (B*nW, N, C)."""
        bw, n, c = x.shape
        qkv = self.qkv(x).view(bw, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # (B*nW, nH, N, d)
        bias = self.position_bias(q.dtype)
        if mask is not None:
            nw = mask.shape[0]
            # (nW, nH, N, N) tiled over the batch: windows are ordered batch-major
            bias = (bias.unsqueeze(0) + mask.to(q.dtype).unsqueeze(1)).repeat(bw // nw, 1, 1, 1)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias, dropout_p=self.attn_drop if self.training else 0.0, scale=self.scale,
        )
        out = out.transpose(1, 2).reshape(bw, n, c)
        return self.proj_drop(self.proj(out))


class SwinBlock(nn.Module):
    """One (shifted-)window transformer block on a (B, C, H, W) map; pre-norm, GroupNorm32."""

    def __init__(self, dim: int, input_resolution: int, num_heads: int, window_size: int,
                 shift_size: int, mlp_ratio: float, dropout: float = 0.0):
        super().__init__()
        if input_resolution <= window_size:
            # as the official code: no partition when the map is not larger than one window
            shift_size, window_size = 0, input_resolution
        if not 0 <= shift_size < window_size:
            raise ValueError("shift_size must be in [0, window_size)")
        self.window_size = window_size
        self.shift_size = shift_size
        self.norm1 = GroupNorm32(dim)
        self.attn = WindowAttention(dim, window_size, num_heads, proj_drop=dropout)
        self.norm2 = GroupNorm32(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dropout)
        if shift_size > 0:
            # kept only for checkpoint compatibility; the mask actually used follows the runtime size
            self.register_buffer(
                "attn_mask", shifted_window_mask(input_resolution, input_resolution, window_size,
                                                 shift_size)
            )
        else:
            self.attn_mask = None
        self._mask_cache: dict[tuple, torch.Tensor] = {}
        self._mask_lock = threading.Lock()

    def __getstate__(self) -> dict:
        """Copies and pickles leave the lock and the per-size mask cache behind."""
        state = self.__dict__.copy()
        state["_mask_cache"], state["_mask_lock"] = {}, None
        return state

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        self._mask_lock = threading.Lock()

    def runtime_mask(self, height: int, width: int, device, dtype) -> torch.Tensor | None:
        if self.shift_size == 0:
            return None
        key = (height, width, str(device), dtype)
        mask = self._mask_cache.get(key)
        if mask is None:
            mask = shifted_window_mask(height, width, self.window_size, self.shift_size).to(device, dtype)
            with self._mask_lock:
                if len(self._mask_cache) > 32:
                    self._mask_cache.clear()
                self._mask_cache[key] = mask
        return mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        ws = self.window_size
        shortcut = x
        x = self.norm1(x)
        pad_h, pad_w = (-h) % ws, (-w) % ws
        if pad_h or pad_w:  # sizes that are not a multiple of the window (the official code fails)
            x = F.pad(x, (0, pad_w, 0, pad_h))
        hp, wp = h + pad_h, w + pad_w
        if self.shift_size:
            x = torch.roll(x, shifts=(-self.shift_size, -self.shift_size), dims=(2, 3))
        windows = partition_windows(x, ws).reshape(-1, ws * ws, c)
        windows = self.attn(windows, self.runtime_mask(hp, wp, x.device, x.dtype))
        x = merge_windows(windows.view(-1, ws, ws, c), ws, hp, wp)
        if self.shift_size:
            x = torch.roll(x, shifts=(self.shift_size, self.shift_size), dims=(2, 3))
        if pad_h or pad_w:
            x = x[:, :, :h, :w]
        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, in_chans: int, embed_dim: int, patch_norm: bool):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, 1)
        self.norm = GroupNorm32(embed_dim) if patch_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x))


class SwinLayer(nn.Module):
    """``patch_embed`` (1x1 conv) -> ``depth`` Swin blocks -> ``patch_unembed`` (1x1 conv).

    The official name of this module is ``BasicLayer``.
    """

    def __init__(self, in_chans: int, embed_dim: int, num_heads: int, window_size: int, depth: int,
                 img_size: int, mlp_ratio: float, dropout: float = 0.0, patch_norm: bool = False):
        super().__init__()
        self.patch_embed = PatchEmbed(in_chans, embed_dim, patch_norm)
        self.patch_unembed = PatchEmbed(embed_dim, in_chans, patch_norm)
        self.blocks = nn.ModuleList(
            SwinBlock(embed_dim, img_size, num_heads, window_size,
                      0 if i % 2 == 0 else window_size // 2, mlp_ratio, dropout)
            for i in range(depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        for block in self.blocks:
            x = block(x)
        return self.patch_unembed(x)
