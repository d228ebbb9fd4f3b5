"""The VQ autoencoder (first stage) of ResShift, from latent diffusion (``VQModelTorch``).

``encode`` returns the continuous latent (no quantisation), ``decode`` first snaps the latent to
the nearest codebook entry, exactly as the official pipeline does. Parameter names match the
released ``autoencoder_vq_f4``, ``celeba256_vq_f4_dim3_face`` and ``ffhq512_vq_f8_dim8_face``.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .layers import GroupNorm


def _norm(channels: int) -> nn.GroupNorm:
    return GroupNorm(32, channels, eps=1e-6)


class ResnetBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, dropout: float, padding_mode: str):
        super().__init__()
        self.norm1 = _norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, padding_mode=padding_mode)
        self.norm2 = _norm(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, padding_mode=padding_mode)
        self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        if self.nin_shortcut is not None:
            x = self.nin_shortcut(x)
        return x + h


class AttnBlock(nn.Module):
    """Single-head spatial self-attention.

    Queries are processed in chunks of ``query_chunk`` tokens: a 1024x1024 image has a 256x256
    latent, 65536 tokens, whose full attention matrix (17 GB in float32) would not fit where no fused
    kernel takes the 512-wide single head (CPU, and CUDA's flash kernel stops at 256). Each query
    row is independent, so chunking does not change the result.
    """

    query_chunk = 4096

    def __init__(self, channels: int):
        super().__init__()
        self.norm = _norm(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        y = self.norm(x)
        q, k, v = (m(y).reshape(b, 1, c, h * w).transpose(2, 3) for m in (self.q, self.k, self.v))
        n = h * w
        if q.is_cuda and q.dtype in (torch.float16, torch.bfloat16) and c > 256:
            out = _half_attention(q, k, v, self.query_chunk)
        elif n <= self.query_chunk:
            out = F.scaled_dot_product_attention(q, k, v)  # b, 1, hw, c
        else:
            out = torch.cat([F.scaled_dot_product_attention(q[:, :, i:i + self.query_chunk], k, v)
                             for i in range(0, n, self.query_chunk)], dim=2)
        return x + self.proj_out(out.transpose(2, 3).reshape(b, c, h, w))


def _half_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, chunk: int) -> torch.Tensor:
    """softmax(q k^T / sqrt(c)) v in half precision with plain matrix products, ``chunk`` queries at a time.

    For the 512-wide single head on CUDA, PyTorch's fused attention falls back to its memory-efficient
    kernel, which is built for narrow heads: at a 1024x1024 output (65536 tokens) the two mid-block
    attentions took most of a 575 ms restoration on an H100. cuBLAS products and a half-precision
    softmax (accumulated in float32) do the same arithmetic as the official code's bmm/softmax/bmm.
    """
    scale = q.shape[-1] ** -0.5
    kt = k.transpose(-1, -2)
    parts = []
    with torch.autocast(q.device.type, enabled=False):
        for i in range(0, q.shape[-2], chunk):
            scores = torch.matmul(q[..., i:i + chunk, :] * scale, kt)
            parts.append(torch.matmul(scores.softmax(dim=-1), v))
    return torch.cat(parts, dim=-2) if len(parts) > 1 else parts[0]


class Downsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    def __init__(self, channels: int, padding_mode: str):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, padding_mode=padding_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def _blocks_per_level(num_res_blocks: int | Sequence[int], levels: int) -> list[int]:
    if isinstance(num_res_blocks, int):
        return [num_res_blocks] * levels
    if len(num_res_blocks) != levels:
        raise ValueError("num_res_blocks needs one entry per ch_mult level")
    return list(num_res_blocks)


class _Level(nn.Module):
    """Holder so that parameter names read ``down.{i}.block.{j}`` / ``up.{i}.attn.{j}``."""


class _Mid(nn.Module):
    def __init__(self, ch: int, dropout: float, padding_mode: str):
        super().__init__()
        self.block_1 = ResnetBlock(ch, ch, dropout, padding_mode)
        self.attn_1 = AttnBlock(ch)
        self.block_2 = ResnetBlock(ch, ch, dropout, padding_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(x)))


class Encoder(nn.Module):
    def __init__(self, *, ch: int, ch_mult: Sequence[int], num_res_blocks, attn_resolutions: Sequence[int],
                 in_channels: int, resolution: int, z_channels: int, double_z: bool = False,
                 dropout: float = 0.0, padding_mode: str = "zeros", **_ignored: Any):
        super().__init__()
        blocks = _blocks_per_level(num_res_blocks, len(ch_mult))
        self.conv_in = nn.Conv2d(in_channels, ch, 3, padding=1, padding_mode=padding_mode)
        in_mult = (1,) + tuple(ch_mult)
        res = resolution
        self.down = nn.ModuleList()
        block_in = ch
        for i, mult in enumerate(ch_mult):
            level = _Level()
            level.block, level.attn = nn.ModuleList(), nn.ModuleList()
            block_in, block_out = ch * in_mult[i], ch * mult
            for _ in range(blocks[i]):
                level.block.append(ResnetBlock(block_in, block_out, dropout, padding_mode))
                block_in = block_out
                if res in attn_resolutions:
                    level.attn.append(AttnBlock(block_in))
            if i != len(ch_mult) - 1:
                level.downsample = Downsample(block_in)
                res //= 2
            self.down.append(level)
        self.mid = _Mid(block_in, dropout, padding_mode)
        self.norm_out = _norm(block_in)
        self.conv_out = nn.Conv2d(block_in, 2 * z_channels if double_z else z_channels, 3, padding=1,
                                  padding_mode=padding_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level in self.down:
            for j, block in enumerate(level.block):
                h = block(h)
                if len(level.attn):
                    h = level.attn[j](h)
            if hasattr(level, "downsample"):
                h = level.downsample(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, *, ch: int, out_ch: int, ch_mult: Sequence[int], num_res_blocks,
                 attn_resolutions: Sequence[int], resolution: int, z_channels: int, dropout: float = 0.0,
                 padding_mode: str = "zeros", **_ignored: Any):
        super().__init__()
        blocks = _blocks_per_level(num_res_blocks, len(ch_mult))
        block_in = ch * ch_mult[-1]
        res = resolution // 2 ** (len(ch_mult) - 1)
        self.conv_in = nn.Conv2d(z_channels, block_in, 3, padding=1, padding_mode=padding_mode)
        self.mid = _Mid(block_in, dropout, padding_mode)
        up: list[nn.Module] = []
        for i in reversed(range(len(ch_mult))):
            level = _Level()
            level.block, level.attn = nn.ModuleList(), nn.ModuleList()
            block_out = ch * ch_mult[i]
            for _ in range(blocks[i] + 1):
                level.block.append(ResnetBlock(block_in, block_out, dropout, padding_mode))
                block_in = block_out
                if res in attn_resolutions:
                    level.attn.append(AttnBlock(block_in))
            if i != 0:
                level.upsample = Upsample(block_in, padding_mode)
                res *= 2
            up.insert(0, level)
        self.up = nn.ModuleList(up)
        self.norm_out = _norm(block_in)
        self.conv_out = nn.Conv2d(block_in, out_ch, 3, padding=1, padding_mode=padding_mode)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            for j, block in enumerate(level.block):
                h = block(h)
                if len(level.attn):
                    h = level.attn[j](h)
            if hasattr(level, "upsample"):
                h = level.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class VectorQuantizer(nn.Module):
    row_chunk = 8192  # latent vectors per distance matrix

    def __init__(self, n_embed: int, embed_dim: int):
        super().__init__()
        self.embedding = nn.Embedding(n_embed, embed_dim)
        nn.init.uniform_(self.embedding.weight, -1.0 / n_embed, 1.0 / n_embed)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Snap every latent vector of z (B, C, H, W) to its nearest codebook entry.

        Distances are computed in float32 even under autocast, so half precision never picks a
        different code than float32 would for a well-separated codebook.
        """
        b, c, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, c).float()
        codebook = self.embedding.weight.float()
        with torch.autocast(z.device.type, enabled=False):
            codebook_sq = codebook.pow(2).sum(1)[None]
            # latent vectors in chunks: the (vectors x codes) distance matrix of a 1024x1024 output
            # (65536 x 8192) would take 2 GiB per temporary; each row's nearest code is independent
            index = torch.cat([
                (part.pow(2).sum(1, keepdim=True) + codebook_sq - 2 * part @ codebook.t()).argmin(1)
                for part in flat.split(self.row_chunk)
            ])
        quant = codebook[index].to(z.dtype)
        return quant.view(b, h, w, c).permute(0, 3, 1, 2).contiguous()


class VQAutoencoder(nn.Module):
    """``VQAutoencoder(embed_dim, n_embed, ddconfig)`` with the official autoencoder ``params``.

    encode: image (B, 3, H, W) in [-1, 1] -> latent (B, embed_dim, H/f, W/f), f = 2**(levels-1)
    decode: latent -> image, quantising to the nearest code first
    """

    def __init__(self, embed_dim: int, n_embed: int, ddconfig: Mapping[str, Any], **_ignored: Any):
        super().__init__()
        ddconfig = dict(ddconfig)
        if ddconfig.get("double_z", False):
            raise ValueError("a VQ autoencoder has double_z = false")
        self.encoder = Encoder(**ddconfig)
        self.decoder = Decoder(**ddconfig)
        self.quantize = VectorQuantizer(n_embed, embed_dim)
        self.quant_conv = nn.Conv2d(ddconfig["z_channels"], embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(embed_dim, ddconfig["z_channels"], 1)
        self.downscale = 2 ** (len(ddconfig["ch_mult"]) - 1)
        self.latent_channels = embed_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.quant_conv(self.encoder(x))

    def decode(self, z: torch.Tensor, quantize: bool = True) -> torch.Tensor:
        if quantize:
            z = self.quantize(z)
        return self.decoder(self.post_quant_conv(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))
