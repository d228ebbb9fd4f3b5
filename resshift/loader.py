"""Build a ready-to-sample model (Swin-UNet + first stage) from a :class:`ModelSpec`."""
from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .diffusion.graphs import CudaGraphs
from .diffusion.schedule import DEFAULT_SPACING, Schedule
from .models import SwinUNet, build
from .models.cast import autocast_weights
from .models.compiled import compiled_first_stage
from .weights.registry import ModelSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class RestorationModel:
    """A loaded model: read-only after construction, shared by concurrent requests.

    unet: the x0 predictor; first_stage: VQ autoencoder or pixel-unshuffle (encode/decode);
    graphs: this model's recorded CUDA graphs (``RestoreOptions(cuda_graphs=True)``).
    """

    spec: ModelSpec
    unet: SwinUNet
    first_stage: nn.Module
    graphs: CudaGraphs = field(default_factory=CudaGraphs, repr=False)
    _variants: dict = field(default_factory=dict, repr=False)  # (dtype, compiled) -> networks(), kept
    _variants_lock: "threading.RLock" = field(default_factory=threading.RLock, repr=False)

    def networks(self, precision: str, compiled: bool = False) -> tuple[nn.Module, nn.Module]:
        """The (unet, first_stage) to sample with at ``precision`` on this model's device.

        On CUDA at fp16/bf16: copies whose convolution and linear weights are stored in that type
        (``models.cast``; 2 more bytes per parameter). Autocast would otherwise cast every weight on
        every call; the result is bit-identical. ``compiled`` (CUDA only): the VQ encoder and
        decoder through ``torch.compile`` (``models.compiled``). Made on first use and kept.
        Elsewhere: the networks themselves."""
        cuda = self.device.type == "cuda"
        dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision) if cuda else None
        compiled = compiled and cuda
        if dtype is None and not compiled:
            return self.unet, self.first_stage
        key = (dtype, compiled)
        with self._variants_lock:
            pair = self._variants.get(key)
            if pair is None:
                if compiled:
                    unet, first = self.networks(precision) if dtype is not None else (self.unet, self.first_stage)
                    pair = (unet, compiled_first_stage(first))
                else:
                    pair = (autocast_weights(self.unet, dtype), autocast_weights(self.first_stage, dtype))
                self._variants[key] = pair
                log.info("%s: networks for %s%s made", self.spec.name, precision, ", compiled" if compiled else "")
        return pair

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def input_multiple(self) -> int:
        """Input sizes (in input pixels) must be a multiple of this; inputs are padded to it."""
        latent_multiple = self.unet.size_multiple * getattr(self.first_stage, "downscale", 1)
        return max(1, latent_multiple // self.spec.diffusion.sf)

    def schedule(self, steps: int | None = None, kappa: float | None = None,
                 spacing: str = DEFAULT_SPACING) -> Schedule:
        return Schedule.create(self.spec.diffusion, steps=steps, kappa=kappa, spacing=spacing)  # type: ignore[arg-type]

    def to(self, device: torch.device | str, channels_last: bool = True) -> "RestorationModel":
        """Move to ``device``; channels_last memory format by default (faster convolutions on CPU
        (oneDNN) and CUDA: benchmarks/RESULTS.md)."""
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        return RestorationModel(self.spec, self.unet.to(device, memory_format=fmt),
                                self.first_stage.to(device, memory_format=fmt))


def build_networks(spec: ModelSpec) -> tuple[SwinUNet, nn.Module]:
    """The spec's networks, built by their registered architectures (``spec.network``,
    ``spec.first_stage``: :mod:`resshift.models.architectures`), freshly initialised, in eval mode."""
    unet = build(spec.network, "denoiser", spec.unet_params)
    return unet, build(spec.first_stage, "first_stage", spec.first_stage_params)  # type: ignore[return-value]


def _weight_files(spec: ModelSpec, unet: Callable[[], nn.Module], first: Callable[[], nn.Module], unet_path,
                  first_stage_path):
    """(module, weight file, explicit path, words) for each of the spec's weight files; each module
    is a callable that gives it (built only when a download has to be checked against it)."""
    files = [(unet, spec.unet_weights, unet_path, "Swin-UNet")]
    if spec.first_stage_weights is not None:
        files.append((first, spec.first_stage_weights, first_stage_path, "autoencoder"))
    return files


def _resolve_nth(spec: ModelSpec, files: list, i: int, **kwargs) -> Path:
    """The path of ``files[i]`` (:func:`_weight_files`); when it is unavailable, the error also
    names the later files that are not on disk either (looked up without the network)."""
    from .weights import WeightsUnavailable, weight_status

    module, file, path, what = files[i]
    try:
        return _resolve(spec, module, file, path, what, **kwargs)
    except WeightsUnavailable as exc:
        later = [f.filename for _, f, p, _ in files[i + 1:] if p is None and
                 weight_status(f, weights_dir=kwargs.get("weights_dir")) in ("downloadable", "missing")]
        raise exc.needing_also(later) from exc.__cause__  # the cause: e.g. a host out of reach


def _resolve(spec: ModelSpec, module: Callable[[], nn.Module], file, path, what: str, **kwargs) -> Path:
    """One weight file's path; a download is checked against ``module()``'s layout before it
    enters the cache (``resolve_weight``'s ``validate``)."""
    from .weights import checkpoint_validator, resolve_weight

    def validate(downloaded: Path) -> None:
        checkpoint_validator(module(), name=f"{spec.name} {what}")(downloaded)

    return resolve_weight(file, path=path, validate=validate, **kwargs)


def resolve_files(spec: ModelSpec, *, weights_dir: str | Path | None = None, allow_download: bool = True,
                  progress: Callable[[int, int | None], None] | None = None,
                  mirror: str | None = None) -> tuple[Path, Path | None]:
    """The paths of the spec's weight files (weights dir > bundled > cache > download, from
    ``mirror`` when given), without loading them: downloads are checked against the model's
    layout, built on the meta device (no memory, no initialisation) when a download needs it."""
    @functools.cache
    def meta() -> tuple[nn.Module, nn.Module]:
        with torch.device("meta"):
            return build_networks(spec)

    files = _weight_files(spec, lambda: meta()[0], lambda: meta()[1], None, None)
    paths = [_resolve_nth(spec, files, i, weights_dir=weights_dir, allow_download=allow_download, progress=progress,
                          mirror=mirror) for i in range(len(files))]
    return paths[0], paths[1] if len(paths) > 1 else None


def load_model(
    spec: ModelSpec,
    *,
    device: torch.device | str = "cpu",
    weights_dir: str | Path | None = None,
    unet_path: str | Path | None = None,
    first_stage_path: str | Path | None = None,
    allow_download: bool = True,
    progress: Callable[[int, int | None], None] | None = None,
    mirror: str | None = None,
) -> RestorationModel:
    """Resolve the spec's weight files (explicit path > weights dir > bundled > cache > download),
    load them safely into the networks and move them to ``device``."""
    from .weights import load_into, load_state_dict

    unet, first = build_networks(spec)
    files = _weight_files(spec, lambda: unet, lambda: first, unet_path, first_stage_path)
    for i, (module, file, path, what) in enumerate(files):
        resolved = _resolve_nth(spec, files, i, weights_dir=weights_dir, allow_download=allow_download,
                                progress=progress, mirror=mirror)
        log.info("loading %s weights of %s from %s", what, spec.name, resolved)
        load_into(module(), load_state_dict(resolved), name=f"{spec.name} {what}", source=resolved)
    return RestorationModel(spec, unet, first).to(device)
