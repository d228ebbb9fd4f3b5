"""From a loader batch to a :class:`TrainingPair`, per task.

Each task gives the per-sample transform its loader runs (kernels, masks, face degradation) and
turns a collated batch into (x0, y0, model_kwargs) on the training device, in [-1, 1]:

- sr: Real-ESRGAN degradation on the device (``y0`` = LR, sf smaller); ``lq`` = y0
- inpaint: ``y0`` = x0 with the missing pixels set to -1, or filled by ``cv2.inpaint`` in the
  loader when the model's spec says ``hole_fill='telea'``/``'ns'``; ``lq`` = y0, ``mask`` in {-1, 1}
- face: ``y0`` = the GFPGAN-degraded face (same size); ``lq`` = y0

These are the inputs the sampler receives at inference, so training and sampling agree.
"""
from __future__ import annotations

from typing import Any, Mapping, Protocol

import torch

from ..data import (
    CropConfig, FaceDegradation, FaceDegradationConfig, ImageFolder, InpaintMasks, MaskConfig,
    RealESRGANConfig, RealESRGANDegradation,
)
from ..data.folder import SampleTransform
from ..data.util import cpu_generator, generator_for
from .objective import TrainingPair


class Task(Protocol):
    name: str
    sf: int
    transform: SampleTransform | None

    def pair(self, batch: Mapping[str, Any], device: torch.device) -> TrainingPair: ...

    def rng_state(self) -> dict[str, torch.Tensor]: ...

    def load_rng_state(self, state: Mapping[str, torch.Tensor]) -> None: ...


def _to(batch: Mapping[str, Any], key: str, device: torch.device) -> torch.Tensor:
    """The batch's tensor on ``device`` as float32; uint8 images are scaled to [0, 1]."""
    value = batch[key].to(device, non_blocking=True)
    return value.float() / 255.0 if value.dtype == torch.uint8 else value.float()


class SRTask:
    name = "sr"

    def __init__(self, config: RealESRGANConfig, seed: int, device: torch.device):
        self.config = config
        self.sf = config.sf
        self.transform = config.kernels
        self.degrade = RealESRGANDegradation(config)
        self.generator = generator_for(device, seed)
        self.choices = cpu_generator(seed + 1)

    def pair(self, batch: Mapping[str, Any], device: torch.device) -> TrainingPair:
        gt, lq = self.degrade(_to(batch, "gt", device), _to(batch, "kernel1", device),
                              _to(batch, "kernel2", device), _to(batch, "sinc_kernel", device),
                              generator=self.generator, choices=self.choices)
        y0 = lq * 2 - 1
        return TrainingPair(gt * 2 - 1, y0, {"lq": y0})

    def rng_state(self) -> dict[str, torch.Tensor]:
        return {"sr_noise": self.generator.get_state(), "sr_choices": self.choices.get_state()}

    def load_rng_state(self, state: Mapping[str, torch.Tensor]) -> None:
        self.generator.set_state(state["sr_noise"])
        self.choices.set_state(state["sr_choices"])


class _StatelessTask:
    """Tasks whose randomness is all drawn in the loader (per sample)."""

    sf = 1

    def rng_state(self) -> dict[str, torch.Tensor]:
        return {}

    def load_rng_state(self, state: Mapping[str, torch.Tensor]) -> None:
        return None


class InpaintTask(_StatelessTask):
    name = "inpaint"

    def __init__(self, config: MaskConfig, hole_fill: str = "blank"):
        self.config = config
        self.transform = InpaintMasks(config, hole_fill)

    def pair(self, batch: Mapping[str, Any], device: torch.device) -> TrainingPair:
        x0 = _to(batch, "gt", device) * 2 - 1
        mask = _to(batch, "mask", device)  # 1 = missing
        if "filled" in batch:  # the classical fill, computed per sample in the loader
            y0 = _to(batch, "filled", device) * 2 - 1
        else:
            y0 = torch.where(mask > 0.5, torch.full_like(x0, -1.0), x0)
        return TrainingPair(x0, y0, {"lq": y0, "mask": mask * 2 - 1}, focus=mask)


class FaceTask(_StatelessTask):
    name = "face"

    def __init__(self, config: FaceDegradationConfig, uint8: bool = False):
        self.config = config
        self.transform = FaceDegradation(config, uint8=uint8)

    def pair(self, batch: Mapping[str, Any], device: torch.device) -> TrainingPair:
        y0 = _to(batch, "lq", device) * 2 - 1
        return TrainingPair(_to(batch, "gt", device) * 2 - 1, y0, {"lq": y0})


def make_task(task: str, degradation: Mapping[str, Any], seed: int, device: torch.device,
              uint8: bool = False, hole_fill: str = "blank") -> Task:
    """The task's pair maker; ``degradation`` overrides its degradation config's fields; ``uint8``:
    its loader transform returns 8-bit images (as ``ImageFolder(uint8=True)`` for gt);
    ``hole_fill``: the inpainting model's y0 rule (its spec's ``hole_fill``)."""
    if task == "sr":
        return SRTask(RealESRGANConfig.from_dict(degradation), seed, device)
    if task == "inpaint":
        return InpaintTask(MaskConfig.from_dict(degradation), hole_fill)
    if task == "face":
        return FaceTask(FaceDegradationConfig.from_dict(degradation), uint8=uint8)
    raise ValueError(f"unknown task {task!r}")


def validation_pairs(task: str, degradation: Mapping[str, Any], folder: str, count: int, size: int,
                     face_resize: bool, seed: int, device: torch.device,
                     batch_size: int = 4, hole_fill: str = "blank") -> list[TrainingPair]:
    """Fixed validation batches: ``count`` images of ``folder`` (a seeded choice), centre-cropped
    (faces: resized) to ``size``, degraded with ``seed`` (independent of the training RNGs)."""
    val_task = make_task(task, degradation, seed, device, hole_fill=hole_fill)
    crop = CropConfig(size=size, mode="resize" if face_resize else "center", hflip=False)
    dataset = ImageFolder(folder, crop, seed=seed, transform=val_task.transform)
    n = min(count, len(dataset.paths))
    samples = [dataset[i] for i in range(n)]
    pairs = []
    for start in range(0, n, batch_size):
        chunk = samples[start:start + batch_size]
        batch = {k: torch.stack([s[k] for s in chunk]) for k in chunk[0] if k != "index"}
        pairs.append(val_task.pair(batch, device))
    return pairs
