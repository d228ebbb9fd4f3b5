"""``torch.compile`` for inference: the VQ autoencoder's encoder and decoder.

Inductor fuses the elementwise chains around the convolutions (group norm, SiLU, residual adds,
casts) into a few generated kernels; convolutions and matrix products stay with cuDNN/cuBLAS. On an
H100 at a 1024x1024 output this took the encoder from 49 to 41 ms and the decoder from 76 to 60 ms
after a 20 s compile (benchmarks/RESULTS.md). The first call of each new input size compiles, so
this is an opt-in for servers that see the same sizes again (``RestoreOptions(compile=True)``;
tiles all have one size).

The Swin-UNet is not compiled: its per-size caches (shifted-window masks, position bias) break the
traced graph, each of its blocks then recompiles per channel count until dynamo's recompile limit,
and the warm-up took 190 s for about 3 ms per restoration.
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
