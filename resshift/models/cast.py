"""Inference copies of a network whose convolution and linear weights are stored in half precision.

Under fp16/bf16 autocast every convolution and linear layer casts its float32 weight and bias to the
half type on every call: autocast keeps the casts only for weights that require grad, and inference
networks do not. That is one extra kernel per layer per call, and the whole float32 weight read
again for every sampling step. A copy whose Conv/Linear parameters already hold the half type gives
bit-identical results under the same autocast: autocast rounds exactly those tensors, the same way,
and leaves tensors that already have its type alone. Everything else (norms, the VQ codebook,
position-bias tables) stays float32, as autocast uses it.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

MATRIX_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.Linear)


def autocast_weights(module: nn.Module, dtype: torch.dtype) -> nn.Module:
    """A copy of ``module`` (on the same device, same memory format) with the weights and biases of
    its convolution and linear layers in ``dtype``; ``module`` is left unchanged.

    Only for inference under ``torch.autocast(dtype=dtype)``; outside autocast the copy would mix
    dtypes."""
    if dtype not in (torch.float16, torch.bfloat16):
        raise ValueError(f"dtype must be float16 or bfloat16, got {dtype}")
    # the half tensors go into deepcopy's memo, so the copy takes them in place of the float32 ones
    # (no float32 duplicate of the weights, even for a moment)
    memo: dict[int, object] = {}
    for layer in module.modules():
        if isinstance(layer, MATRIX_LAYERS):
            for param in layer.parameters(recurse=False):
                if param.is_floating_point() and id(param) not in memo:
                    # .to keeps the strides (a channels_last weight stays channels_last)
                    memo[id(param)] = nn.Parameter(param.detach().to(dtype), requires_grad=False)
    return copy.deepcopy(module, memo)
