"""Seeded initialisation of a Swin-UNet (module constructors draw from torch's global RNG).

Convolutions and linear layers get PyTorch's default distributions (Kaiming-uniform weights,
uniform biases in +-1/sqrt(fan_in)), the Swin relative-position tables a truncated normal
(std 0.02), norms weight 1 / bias 0, all drawn from one ``torch.Generator``. As in guided
diffusion, the last convolution of every residual block and the output convolution start at
zero, so each block starts as the identity and the x0 prediction at 0.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..models.swin import WindowAttention
from ..models.unet import ResBlock, SwinUNet


@torch.no_grad()
def initialize(unet: SwinUNet, generator: torch.Generator) -> SwinUNet:
    """Re-initialise every parameter of ``unet`` in place from ``generator`` (a CPU generator)."""
    for module in unet.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            _init_like_default(module, generator)
        elif isinstance(module, nn.GroupNorm):
            module.weight.fill_(1.0)
            module.bias.zero_()
        elif isinstance(module, WindowAttention):
            table = torch.empty(module.relative_position_bias_table.shape)
            nn.init.trunc_normal_(table, std=0.02, generator=generator)
            module.relative_position_bias_table.copy_(table)
    for module in unet.modules():
        if isinstance(module, ResBlock):
            _zero(module.out_layers[-1])
    _zero(unet.out[-1])
    return unet


def _init_like_default(module: nn.Conv2d | nn.Linear, generator: torch.Generator) -> None:
    weight = torch.empty(module.weight.shape)
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
    module.weight.copy_(weight)
    if module.bias is not None:
        fan_in = weight[0].numel()
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        module.bias.copy_(torch.empty(module.bias.shape).uniform_(-bound, bound, generator=generator))


def _zero(module: nn.Module) -> None:
    for p in module.parameters():
        p.zero_()
