"""The ResShift training objective (paper, Eq. 7 with x0 prediction).

For a high-quality x0 and its low-quality y0 (paper notation, latents via the first stage):

    z0 = E(x0),  zy = E(bicubic_sf(y0)),  t ~ U{0, ..., T-1},  noise ~ N(0, I)
    x_t = z0 + eta_t * (zy - z0) + kappa * sqrt(eta_t) * noise
    loss = || f(s_t * x_t, t, lq) - z0 ||^2   (mean squared error)

with eta_t from the same :class:`~resshift.diffusion.Schedule` the sampler uses and the input
scale s_t of the sampler (:func:`input_scale`). Indices are 0-based, as the sampler's timesteps.

Two departures a model may ask for, both off by default (the paper's objective):

- ``timestep_probs``: t is drawn with these probabilities instead of uniformly, e.g. mostly the last
  step for a model sampled in one step (its only step is t = T-1, so that case gets the training);
- ``focus_weight``: the mean squared error inside the pair's ``focus`` region (inpainting: the
  holes), taken per image so a small hole counts as much as a large one, is added with this weight
  (known pixels are pasted back by the pipeline, so the holes are what a visitor sees).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F

from ..diffusion import DiffusionConfig, Schedule, encode_first_stage


def input_scale(etas: torch.Tensor, kappa: float, config: DiffusionConfig) -> torch.Tensor:
    """s_t multiplying x_t before the network, as in the sampler: 1 / sqrt(eta_t kappa^2 + 1) for
    latents (``config.latent``), 1 / (3 kappa sqrt(eta_t) + 1) for pixels, 1 without
    ``normalize_input``."""
    if not config.normalize_input:
        return torch.ones_like(etas)
    if config.latent:
        return 1.0 / torch.sqrt(etas * kappa ** 2 + 1)
    return 1.0 / (torch.sqrt(etas) * kappa * 3 + 1)


@dataclass(frozen=True)
class TrainingPair:
    """One batch of the task.

    x0: (B, 3, H, W) the high-quality target in [-1, 1]
    y0: (B, 3, H/sf, W/sf) the low-quality input in [-1, 1] (the sampler's ``y``)
    model_kwargs: the network's conditioning (``lq``, and ``mask`` in {-1, 1} for inpainting)
    focus: (B, 1, H, W) in {0, 1}, the pixels the objective's ``focus_weight`` stresses (inpainting:
        the holes), or None
    """

    x0: torch.Tensor
    y0: torch.Tensor
    model_kwargs: Mapping[str, torch.Tensor]
    focus: torch.Tensor | None = None


def focused_mse(pred: torch.Tensor, target: torch.Tensor, focus: torch.Tensor) -> torch.Tensor:
    """The mean squared error inside ``focus`` (B, 1, H, W in {0, 1}, image pixels), per image, then
    averaged over the images that have any focus (0 when none has). A latent position counts when
    any of the pixels it covers does (``focus`` max-pooled to the latent's size)."""
    weight = F.adaptive_max_pool2d(focus.float(), pred.shape[-2:])
    area = weight.sum(dim=(1, 2, 3)) * pred.shape[1]
    err = ((pred - target) ** 2 * weight).sum(dim=(1, 2, 3))
    has = area > 0
    if not bool(has.any()):
        return err.sum() * 0.0
    return (err[has] / area[has]).mean()


class ResShiftObjective:
    """x_t sampling and the MSE loss for a model trained with ``config`` (all T trained steps).

    timestep_probs: one weight per trained step (normalised), None for uniform; focus_weight: the
    weight of the per-image MSE inside ``TrainingPair.focus`` added to the loss (0: off).
    """

    def __init__(self, config: DiffusionConfig, first_stage: Any | None,
                 timestep_probs: Sequence[float] | None = None, focus_weight: float = 0.0):
        if config.predict_type != "xstart":
            raise ValueError("only x0 prediction ('xstart') is supported")
        self.config = config
        self.first_stage = first_stage
        schedule = Schedule.create(config)  # every trained step, the sampler's eta table
        self.kappa = float(schedule.kappa)
        etas = torch.tensor(schedule.etas.tolist(), dtype=torch.float32)
        self._tables = {"cpu": (etas, input_scale(etas, self.kappa, config))}
        self.timestep_probs = None
        if timestep_probs is not None:
            probs = torch.tensor([float(p) for p in timestep_probs], dtype=torch.float64)
            if len(probs) != len(etas) or bool((probs < 0).any()) or float(probs.sum()) <= 0:
                raise ValueError(f"timestep_probs must be {len(etas)} weights >= 0 (one per trained step), "
                                 f"not all 0; got {list(timestep_probs)}")
            self.timestep_probs = (probs / probs.sum()).float()
        if not (focus_weight >= 0 and math.isfinite(focus_weight)):
            raise ValueError(f"focus_weight must be a number >= 0, got {focus_weight}")
        self.focus_weight = float(focus_weight)

    def _table(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(eta_t, s_t) on ``device``, copied there once (a copy per step would sync a GPU)."""
        key = str(device)
        if key not in self._tables:
            etas, scale = self._tables["cpu"]
            self._tables[key] = (etas.to(device), scale.to(device))
        return self._tables[key]

    @property
    def num_timesteps(self) -> int:
        return len(self._tables["cpu"][0])

    @torch.no_grad()
    def latents(self, pair: TrainingPair) -> tuple[torch.Tensor, torch.Tensor]:
        """(z0, zy): the target's latent and the bicubic-upsampled low-quality input's, float32."""
        z0 = encode_first_stage(pair.x0.float(), replace(self.config, sf=1), self.first_stage)
        zy = encode_first_stage(pair.y0.float(), self.config, self.first_stage)
        if z0.shape != zy.shape:
            raise ValueError(f"x0 latent {tuple(z0.shape)} and y0 latent {tuple(zy.shape)} differ: "
                             f"y0 must be x0's size / sf (sf={self.config.sf})")
        return z0, zy

    def diffuse(self, z0: torch.Tensor, zy: torch.Tensor, t: torch.Tensor,
                noise: torch.Tensor) -> torch.Tensor:
        """x_t = z0 + eta_t (zy - z0) + kappa sqrt(eta_t) noise, for per-sample t (B,)."""
        eta = self._table(z0.device)[0][t].view(-1, 1, 1, 1)
        return z0 + eta * (zy - z0) + self.kappa * torch.sqrt(eta) * noise

    def loss(self, model: Callable[..., torch.Tensor], pair: TrainingPair, generator: torch.Generator,
             t: torch.Tensor | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Mean squared error of the x0 prediction (a float32 scalar); t and noise are drawn from
        ``generator`` (on the data's device) unless given."""
        z0, zy = self.latents(pair)
        b, device = z0.shape[0], z0.device
        if t is None:
            t = self.draw_timesteps(b, generator)
        if noise is None:
            noise = torch.randn(z0.shape, generator=generator, device=device)
        x_t = self.diffuse(z0, zy, t, noise)
        scale = self._table(device)[1][t].view(-1, 1, 1, 1)
        pred = model(x_t * scale, t, **pair.model_kwargs)
        loss = F.mse_loss(pred.float(), z0)
        if self.focus_weight and pair.focus is not None:
            loss = loss + self.focus_weight * focused_mse(pred.float(), z0, pair.focus)
        return loss

    def draw_timesteps(self, b: int, generator: torch.Generator) -> torch.Tensor:
        """(b,) trained step indices: uniform, or from ``timestep_probs``."""
        device = generator.device
        if self.timestep_probs is None:
            return torch.randint(0, self.num_timesteps, (b,), generator=generator, device=device)
        probs = self.timestep_probs.to(device)
        return torch.multinomial(probs, b, replacement=True, generator=generator)

    @torch.no_grad()
    def evaluate(self, model: Callable[..., torch.Tensor], pair: TrainingPair, seed: int = 0) -> float:
        """The loss averaged over every timestep with noise fixed by ``seed`` (a stable yardstick)."""
        z0, _ = self.latents(pair)
        g = torch.Generator(device=z0.device).manual_seed(seed)
        noise = torch.randn(z0.shape, generator=g, device=z0.device)
        losses = []
        for step in range(self.num_timesteps):
            t = torch.full((z0.shape[0],), step, dtype=torch.long, device=z0.device)
            losses.append(float(self.loss(model, pair, g, t=t, noise=noise)))
        return sum(losses) / len(losses)
