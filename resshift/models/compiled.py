"""``torch.compile`` for inference: the Swin-UNet and the VQ autoencoder's encoder and decoder.

Inductor fuses the elementwise chains around the convolutions (group norm, SiLU, residual adds,
casts) into a few generated kernels; convolutions and matrix products stay with cuDNN/cuBLAS. The
first call of each new input size compiles (tens of seconds), so this is an opt-in for servers that
see the same sizes again (``RestoreOptions(compile=True)``; tiles all have one size).
"""
from __future__ import annotations

import copy

import torch
from torch import nn


def compiled_first_stage(first_stage: nn.Module) -> nn.Module:
    """A shallow copy of a first stage whose ``encoder`` and ``decoder`` are compiled (same
    weights); a first stage without them (the weight-free pixel stage) is returned as it is."""
    if not (hasattr(first_stage, "encoder") and hasattr(first_stage, "decoder")):
        return first_stage
    twin = copy.copy(first_stage)
    twin._modules = dict(first_stage._modules)  # its own table of submodules; the modules are shared
    twin.encoder = torch.compile(first_stage.encoder)
    twin.decoder = torch.compile(first_stage.decoder)
    return twin


def compiled_unet(unet: nn.Module) -> nn.Module:
    """The x0 predictor compiled (``forward`` only; ``condition`` and attributes reach the module)."""
    return torch.compile(unet)
