"""The network registry: every architecture a model spec can name, each registered once.

A :class:`~resshift.weights.registry.ModelSpec` names its denoiser (``network``) and its first
stage (``first_stage``); :func:`build` turns (name, parameters) into a module. A new network
variant is one :func:`register` call here; a new checkpoint family is one spec that names
registered architectures.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping

from torch import nn

from .noisy import NoiseInputSwinUNet
from .pixel import PixelUnshuffleStage
from .unet import SwinUNet
from .vq import VQAutoencoder

Role = Literal["denoiser", "first_stage"]


@dataclass(frozen=True)
class Architecture:
    """name: what a spec says; role: 'denoiser' (predicts x0) or 'first_stage' (encode/decode);
    build: the constructor, called with the spec's parameters; weights: whether it has a weight
    file (the pixel stage has none); title: a few words for people."""

    name: str
    role: Role
    build: Callable[..., nn.Module]
    weights: bool = True
    title: str = ""


ARCHITECTURES: dict[str, Architecture] = {}


def register(architecture: Architecture) -> Architecture:
    if architecture.name in ARCHITECTURES:
        raise ValueError(f"architecture {architecture.name!r} is registered already")
    ARCHITECTURES[architecture.name] = architecture
    return architecture


def architecture(name: str, role: Role) -> Architecture:
    """The registered architecture ``name``, which must play ``role``; ValueError names the known ones."""
    found = ARCHITECTURES.get(name)
    if found is None or found.role != role:
        known = ", ".join(a.name for a in ARCHITECTURES.values() if a.role == role)
        raise ValueError(f"unknown {role.replace('_', ' ')} architecture {name!r}; known: {known}")
    return found


def build(name: str, role: Role, params: Mapping[str, Any]) -> nn.Module:
    """A freshly initialised ``name`` network built from ``params``, in eval mode, frozen."""
    return architecture(name, role).build(**dict(params)).eval().requires_grad_(False)


register(Architecture("swin-unet", "denoiser", SwinUNet, title="ResShift's Swin-UNet"))
register(Architecture("swin-unet-noise", "denoiser", NoiseInputSwinUNet,
                      title="Swin-UNet with noise input planes (RSD)"))
register(Architecture("vq", "first_stage", VQAutoencoder, title="VQ autoencoder"))
register(Architecture("pixel", "first_stage", PixelUnshuffleStage, weights=False,
                      title="pixel-unshuffle (weight-free)"))
