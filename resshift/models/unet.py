"""ResShift's Swin-UNet: predicts x0 from (x_t, t) conditioned on the low-quality image.

The constructor takes the official ``model.params`` keywords, so an official YAML ``params`` block
can be passed as is, and the parameter names match the released checkpoints.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .fill import push_pull_fill
from .layers import GroupNorm32, timestep_embedding
from .swin import SwinLayer


class Condition(NamedTuple):
    """The low-quality conditioning of one sampling call (see :meth:`SwinUNet.condition`)."""

    features: torch.Tensor | None
    base: torch.Tensor | None


class TimestepBlock(nn.Module):
    """A module whose forward takes the timestep embedding as a second argument."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


class TimestepSequential(nn.Sequential):
    """Sequential that hands the timestep embedding to the children that take it."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x, emb) if isinstance(layer, TimestepBlock) else layer(x)
        return x


class Upsample(nn.Module):
    """Nearest x2 upsampling, optionally followed by a 3x3 convolution."""

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None):
        super().__init__()
        self.use_conv = use_conv
        if use_conv:
            self.conv = nn.Conv2d(channels, out_channels or channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv(x) if self.use_conv else x


class Downsample(nn.Module):
    """x2 downsampling by a strided 3x3 convolution (or average pooling)."""

    def __init__(self, channels: int, use_conv: bool, out_channels: int | None = None):
        super().__init__()
        out_channels = out_channels or channels
        if use_conv:
            self.op = nn.Conv2d(channels, out_channels, 3, stride=2, padding=1)
        else:
            if out_channels != channels:
                raise ValueError("average-pool downsampling cannot change the channel count")
            self.op = nn.AvgPool2d(2, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class ResBlock(TimestepBlock):
    """Residual block with timestep conditioning (scale-shift norm optional), as in guided diffusion."""

    def __init__(self, channels: int, emb_channels: int, dropout: float, out_channels: int | None = None,
                 use_scale_shift_norm: bool = False, up: bool = False, down: bool = False):
        super().__init__()
        self.out_channels = out_channels or channels
        self.use_scale_shift_norm = use_scale_shift_norm
        self.in_layers = nn.Sequential(
            GroupNorm32(channels), nn.SiLU(), nn.Conv2d(channels, self.out_channels, 3, padding=1)
        )
        self.updown = up or down
        if up:
            self.h_upd, self.x_upd = Upsample(channels, False), Upsample(channels, False)
        elif down:
            self.h_upd, self.x_upd = Downsample(channels, False), Downsample(channels, False)
        else:
            self.h_upd = self.x_upd = nn.Identity()
        self.emb_layers = nn.Sequential(
            nn.SiLU(),
            nn.Linear(emb_channels, 2 * self.out_channels if use_scale_shift_norm else self.out_channels),
        )
        self.out_layers = nn.Sequential(
            GroupNorm32(self.out_channels), nn.SiLU(), nn.Dropout(dropout),
            nn.Conv2d(self.out_channels, self.out_channels, 3, padding=1),
        )
        if self.out_channels == channels:
            self.skip_connection = nn.Identity()
        else:
            self.skip_connection = nn.Conv2d(channels, self.out_channels, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if self.updown:
            h = self.in_layers[:-1](x)
            h = self.in_layers[-1](self.h_upd(h))
            x = self.x_upd(x)
        else:
            h = self.in_layers(x)
        emb_out = self.emb_layers(emb).to(h.dtype)[:, :, None, None]
        if self.use_scale_shift_norm:
            scale, shift = emb_out.chunk(2, dim=1)
            h = self.out_layers[0](h) * (1 + scale) + shift
            h = self.out_layers[1:](h)
        else:
            h = self.out_layers(h + emb_out)
        return self.skip_connection(x) + h


class SwinUNet(nn.Module):
    """The official ``UNetModelSwin``.

    forward(x, t, lq=None, mask=None):
      x    (B, in_channels, h, w)  the normalised x_t (latent or pixels); h, w multiples of
                                    window_size * 2**(len(channel_mult)-1) for exact official results
      t    (B,) int                 timesteps of the trained chain (0 .. T-1)
      lq   (B, 3, h*r, w*r)         the low-quality image in [-1, 1], r = lq_size / image_size
      mask (B, 1, h*r, w*r)         inpainting mask in {-1, 1}, 1 = missing (only with cond_mask)
    returns (B, out_channels, h, w): the prediction of x0.

    ``lq_residual`` (not in the official models, which leave it 0): when f > 0, the prediction is
    relative to the low-quality image: the network's output is added to pixel_unshuffle(lq, f),
    lq resized (bicubic) to f times the latent size first. It suits the weight-free pixel-unshuffle
    first stage (latent = pixel_unshuffle(image, f)): the network then only learns the correction.
    ``lq_residual_fill`` (inpainting, with ``cond_mask``): the missing pixels of that starting point
    are first filled by a push-pull interpolation of the known ones (:mod:`.fill`).
    """

    def __init__(
        self,
        image_size: int,
        in_channels: int,
        model_channels: int,
        out_channels: int,
        num_res_blocks: int | Sequence[int],
        attention_resolutions: Sequence[int],
        dropout: float = 0.0,
        channel_mult: Sequence[int] = (1, 2, 4, 8),
        conv_resample: bool = True,
        dims: int = 2,
        use_fp16: bool = False,
        num_heads: int = 1,
        num_head_channels: int = -1,
        use_scale_shift_norm: bool = False,
        resblock_updown: bool = False,
        swin_depth: int = 2,
        swin_embed_dim: int = 96,
        window_size: int = 8,
        mlp_ratio: float = 2.0,
        patch_norm: bool = False,
        cond_lq: bool = True,
        cond_mask: bool = False,
        lq_size: int = 256,
        lq_residual: int = 0,
        lq_residual_fill: bool = False,
    ):
        super().__init__()
        if dims != 2:
            raise ValueError(f"only 2-D Swin-UNets exist (dims={dims})")
        channel_mult = list(channel_mult)
        if isinstance(num_res_blocks, int):
            num_res_blocks = [num_res_blocks] * len(channel_mult)
        num_res_blocks = list(num_res_blocks)
        if len(num_res_blocks) != len(channel_mult):
            raise ValueError("num_res_blocks needs one entry per channel_mult level")
        if num_head_channels == -1:
            heads = num_heads
        else:
            if num_head_channels <= 0 or swin_embed_dim % num_head_channels:
                raise ValueError("swin_embed_dim must be a multiple of num_head_channels")
            heads = swin_embed_dim // num_head_channels
        if cond_mask and not cond_lq:
            raise ValueError("cond_mask needs cond_lq")
        self.image_size = image_size
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.model_channels = model_channels
        self.cond_lq = cond_lq
        self.cond_mask = cond_mask
        self.lq_scale = lq_size // image_size if cond_lq else 1
        # use_fp16 is accepted for config compatibility; half precision is applied with autocast.
        self.use_fp16 = use_fp16

        time_dim = model_channels * 4
        self.time_embed = nn.Sequential(
            nn.Linear(model_channels, time_dim), nn.SiLU(), nn.Linear(time_dim, time_dim)
        )

        lq_chn = 4 if cond_mask else 3
        if not cond_lq:
            self.feature_extractor = nn.Identity()
            extra = 0
        elif lq_size == image_size:
            self.feature_extractor = nn.Identity()
            extra = lq_chn
        else:
            ratio = lq_size / image_size
            n_down = int(math.log(ratio) / math.log(2))
            if ratio < 1 or 2 ** n_down != ratio:
                raise ValueError(f"lq_size/image_size must be a power of two, got {lq_size}/{image_size}")
            layers: list[nn.Module] = []
            chn, base = lq_chn, 16
            for _ in range(n_down):
                layers += [nn.Conv2d(chn, base, 3, 1, 1), nn.SiLU(), Downsample(base, True, base * 2)]
                base *= 2
                chn = base
            self.feature_extractor = nn.Sequential(*layers)
            extra = base

        def swin(ch: int, ds: int) -> SwinLayer:
            return SwinLayer(ch, swin_embed_dim, heads, window_size, swin_depth, ds, mlp_ratio,
                             dropout, patch_norm)

        ch = first_ch = int(channel_mult[0] * model_channels)
        self.input_blocks = nn.ModuleList([TimestepSequential(nn.Conv2d(in_channels + extra, ch, 3, padding=1))])
        skip_chans = [ch]
        ds = image_size
        for level, mult in enumerate(channel_mult):
            for j in range(num_res_blocks[level]):
                layers = [ResBlock(ch, time_dim, dropout, int(mult * model_channels), use_scale_shift_norm)]
                ch = int(mult * model_channels)
                if ds in attention_resolutions and j == 0:
                    layers.append(swin(ch, ds))
                self.input_blocks.append(TimestepSequential(*layers))
                skip_chans.append(ch)
            if level != len(channel_mult) - 1:
                down = (ResBlock(ch, time_dim, dropout, ch, use_scale_shift_norm, down=True)
                        if resblock_updown else Downsample(ch, conv_resample, ch))
                self.input_blocks.append(TimestepSequential(down))
                skip_chans.append(ch)
                ds //= 2

        self.middle_block = TimestepSequential(
            ResBlock(ch, time_dim, dropout, use_scale_shift_norm=use_scale_shift_norm),
            swin(ch, ds),
            ResBlock(ch, time_dim, dropout, use_scale_shift_norm=use_scale_shift_norm),
        )

        self.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(channel_mult))[::-1]:
            for i in range(num_res_blocks[level] + 1):
                layers = [ResBlock(ch + skip_chans.pop(), time_dim, dropout, int(model_channels * mult),
                                   use_scale_shift_norm)]
                ch = int(model_channels * mult)
                if ds in attention_resolutions and i == 0:
                    layers.append(swin(ch, ds))
                if level and i == num_res_blocks[level]:
                    layers.append(ResBlock(ch, time_dim, dropout, ch, use_scale_shift_norm, up=True)
                                  if resblock_updown else Upsample(ch, conv_resample, ch))
                    ds *= 2
                self.output_blocks.append(TimestepSequential(*layers))

        self.out = nn.Sequential(GroupNorm32(ch), nn.SiLU(), nn.Conv2d(first_ch, out_channels, 3, padding=1))
        if lq_residual:
            if not cond_lq or in_channels != out_channels or out_channels != 3 * lq_residual ** 2:
                raise ValueError("lq_residual=f needs cond_lq and in/out channels = 3*f*f")
            if lq_residual % self.lq_scale and self.lq_scale % lq_residual:
                raise ValueError("lq_residual and lq_size/image_size must divide one another")
        if lq_residual_fill and not (lq_residual and cond_mask):
            raise ValueError("lq_residual_fill needs lq_residual and cond_mask")
        self.lq_residual = lq_residual
        self.lq_residual_fill = lq_residual_fill
        # latent sizes that are a multiple of this tile every level's windows exactly
        self.size_multiple = window_size * 2 ** (len(channel_mult) - 1)

    def condition(self, lq: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> Condition:
        """What the forward pass takes from ``lq`` and ``mask``: it depends on neither x_t nor t, so
        the sampler computes it once per call and hands it to every step (``forward(..., cond=)``).

        features: the feature extractor's output (concatenated to x_t); base: the ``lq_residual``
        starting point of the prediction (None when unused)."""
        if lq is None:
            if self.cond_lq:
                raise ValueError("this model needs the low-quality image `lq`")
            return Condition(None, None)
        if not self.cond_lq:
            raise ValueError("this model is not conditioned on a low-quality image (cond_lq=False)")
        if mask is not None:
            if not self.cond_mask:
                raise ValueError("this model takes no inpainting mask (cond_mask=False)")
            lq = torch.cat([lq, mask.to(lq.dtype)], dim=1)
        elif self.cond_mask:
            raise ValueError("this inpainting model needs a mask")
        # a network kept in half precision takes half input, except under autocast (which casts itself)
        autocast = torch.is_autocast_enabled(lq.device.type)
        features = self.feature_extractor(lq if autocast else lq.to(self.time_embed[0].weight.dtype))
        base = None
        if self.lq_residual:
            lq_img = lq[:, :3]
            if self.lq_residual_fill:
                lq_img = push_pull_fill(lq_img, (lq[:, 3:4] < 0).to(lq_img.dtype))  # mask: 1 = missing
            target = tuple(n * self.lq_residual // self.lq_scale for n in lq_img.shape[-2:])
            if lq_img.shape[-2:] != target:
                lq_img = F.interpolate(lq_img.float(), size=target, mode="bicubic", align_corners=False)
            base = F.pixel_unshuffle(lq_img, self.lq_residual)
        return Condition(features, base)

    def forward(self, x: torch.Tensor, t: torch.Tensor, lq: torch.Tensor | None = None,
                mask: torch.Tensor | None = None, cond: Condition | None = None) -> torch.Tensor:
        if cond is None:
            cond = self.condition(lq, mask)
        emb = self.time_embed(timestep_embedding(t, self.model_channels))
        if cond.features is not None:
            x = torch.cat([x, cond.features], dim=1)
        h = x
        skips = []
        for block in self.input_blocks:
            h = block(h, emb)
            skips.append(h)
        h = self.middle_block(h, emb)
        for block in self.output_blocks:
            h = block(torch.cat([h, skips.pop()], dim=1), emb)
        out = self.out(h)
        return out if cond.base is None else out + cond.base.to(out.dtype)
