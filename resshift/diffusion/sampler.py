"""The one ResShift sampler shared by every task.

Notation follows the paper (see ``schedule.py``): y0 is the low-quality input, x0 the restored
image, z the first stage's latent of either. Sampling starts from the prior

    x_T = z(y0) + kappa * sqrt(eta_T) * noise

and takes posterior steps x_{t-1} ~ q(x_{t-1} | x_t, x0_pred) with x0_pred = model(x_t, t, lq).
All loop state is local to the call: one loaded model serves concurrent requests.
``iter_sample`` yields every step; ``sample`` runs it through and decodes the result.
"""
from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any, Callable, Generator, Iterator, Mapping, Protocol, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .schedule import DiffusionConfig, Schedule

log = logging.getLogger(__name__)


class FirstStage(Protocol):
    """Anything with encode(image) -> latent and decode(latent) -> image (e.g. the VQ autoencoder)."""

    def encode(self, x: torch.Tensor) -> torch.Tensor: ...

    def decode(self, z: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class SamplerNoise:
    """Explicit noise for an exactly reproducible run: the prior's, then one per step.

    ``steps[i]`` is used by the i-th step taken (in sampling order); the last step adds no noise,
    so ``steps`` may hold n or n - 1 tensors. ``inputs``: the noise planes of a network that takes
    them in its input (``noise_channels``, RSD), (B, noise_channels, h, w) at the latent size.
    """

    prior: torch.Tensor
    steps: Sequence[torch.Tensor]
    inputs: torch.Tensor | None = None


def input_noise_shape(model: Any, z_shape: Sequence[int]) -> tuple[int, ...] | None:
    """The shape of the noise planes ``model`` takes in its input (``noise_channels`` planes at the
    latent size, RSD), None for a network that takes none."""
    planes = int(getattr(model, "noise_channels", 0))
    return (z_shape[0], planes, *z_shape[2:]) if planes else None


@dataclass(frozen=True)
class StepResult:
    """One sampling step.

    index: 0-based count of steps taken in this call (0 .. total-1)
    t: the trained timestep the model saw
    x_t: the sample after this step, in latent space (the last one is the final latent)
    x0_pred: the model's prediction of x0 (latent space) at this step
    """

    index: int
    total: int
    t: int
    x_t: torch.Tensor
    x0_pred: torch.Tensor


def _first_param(module: Any) -> torch.Tensor | None:
    if isinstance(module, nn.Module):
        return next(iter(module.parameters()), None)
    return None


def autocast_context(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """fp16/bf16 autocast on CUDA (as the official sampler); plain float32 elsewhere or for 'fp32'."""
    if precision not in ("fp32", "fp16", "bf16"):
        raise ValueError(f"precision must be fp32, fp16 or bf16, got {precision!r}")
    if precision == "fp32":
        return contextlib.nullcontext()
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16 if precision == "fp16" else torch.bfloat16)
    if device.type == "cpu" and precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _as_input(x: torch.Tensor, module: Any) -> torch.Tensor:
    """x in the module's parameter dtype (a network kept in half precision), except under autocast,
    which casts each operation's inputs itself (and keeps float32 where an operation needs it)."""
    p = _first_param(module)
    if p is None or torch.is_autocast_enabled(x.device.type):
        return x
    return x.to(p.dtype)


def encode_first_stage(y: torch.Tensor, config: DiffusionConfig, first_stage: FirstStage | None) -> torch.Tensor:
    """z(y0): bicubic x sf (when sf > 1), then encode, times scale_factor. Returns float32."""
    if config.sf != 1:
        y = F.interpolate(y, scale_factor=config.sf, mode="bicubic")
    if first_stage is None:
        return y
    z = first_stage.encode(_as_input(y, first_stage))
    return (z * config.scale_factor).float()


def decode_first_stage(z: torch.Tensor, config: DiffusionConfig, first_stage: FirstStage | None) -> torch.Tensor:
    """Image in about [-1, 1] (not clamped) from a latent. Returns float32."""
    if first_stage is None:
        return z
    z = z / config.scale_factor
    return first_stage.decode(_as_input(z, first_stage)).float()


@dataclass(frozen=True)
class StepCoefficients:
    """The per-step scalars of one schedule, as Python floats holding float32 values.

    Plain numbers (not device tensors) so that a step launches no host-to-device copies: the loop can
    be recorded in a CUDA graph, and CPU steps skip 0-dim tensor arithmetic. The values are computed
    in float32, as tensors on the device would be, so the results are unchanged.
    prior_scale: kappa * sqrt(eta_T); in_scale[i]: the network's input scaling at step i;
    coef1/coef2/std: the posterior q(x_{t-1} | x_t, x0) mean coefficients and standard deviation.
    """

    prior_scale: float
    in_scale: tuple[float, ...]
    coef1: tuple[float, ...]
    coef2: tuple[float, ...]
    std: tuple[float, ...]


def step_coefficients(schedule: Schedule, config: DiffusionConfig) -> StepCoefficients:
    f32 = lambda a: torch.tensor(list(map(float, a)), dtype=torch.float32)  # noqa: E731
    sqrt_etas, etas = f32(schedule.sqrt_etas), f32(schedule.etas)
    kappa = schedule.kappa
    if config.normalize_input:
        if config.latent:
            in_scale = 1.0 / torch.sqrt(etas * kappa ** 2 + 1)
        else:
            in_scale = 1.0 / (sqrt_etas * kappa * 3 + 1)
    else:
        in_scale = torch.ones_like(etas)
    return StepCoefficients(
        prior_scale=(kappa * sqrt_etas[-1]).item(),
        in_scale=tuple(in_scale.tolist()),
        coef1=tuple(f32(schedule.posterior_mean_coef1).tolist()),
        coef2=tuple(f32(schedule.posterior_mean_coef2).tolist()),
        std=tuple(f32(schedule.posterior_variance).sqrt().tolist()),
    )


def _draw_all(shape: Sequence[int], count: int, generator: torch.Generator | None,
              device: torch.device, shared: bool = False) -> torch.Tensor:
    """(count, *shape) standard normal noise: the prior's, then one per step.

    Drawn in float32 on the generator's device (so a seed gives the same noise on CPU and CUDA) in
    one call, and moved to ``device`` in one (non-blocking, pinned) copy instead of one per step.
    shared: draw the noise of one batch element, (count, 1, *shape[1:]), and expand it (a view) to
    every element of the batch ``shape[0]``: the numbers a batch of one draws from the same
    generator state.
    """
    gen_device = generator.device if generator is not None else device
    # drawn straight into pinned memory when it goes to a GPU (same numbers, one copy less)
    pinned = gen_device.type == "cpu" and device.type == "cuda"
    drawn = (count, 1, *shape[1:]) if shared else (count, *shape)
    noise = torch.randn(drawn, generator=generator, device=gen_device, dtype=torch.float32,
                        pin_memory=pinned)
    if noise.device != device:
        noise = noise.to(device, non_blocking=True)
    return noise.expand(count, *shape) if shared else noise


def iter_sample(
    model: Callable[..., torch.Tensor],
    y: torch.Tensor,
    schedule: Schedule,
    config: DiffusionConfig,
    *,
    first_stage: FirstStage | None = None,
    model_kwargs: Mapping[str, Any] | None = None,
    generator: torch.Generator | None = None,
    noise: SamplerNoise | None = None,
    clip_x0: bool | None = None,
    precision: str = "fp32",
    z_y: torch.Tensor | None = None,
    shared_noise: bool = False,
) -> Generator[StepResult, None, torch.Tensor]:
    """Yield each ResShift sampling step; the generator's return value is the final latent.

    model: the Swin-UNet (or any callable model(x, t, **model_kwargs) -> x0 prediction)
    y: (B, 3, h, w) low-quality image in [-1, 1]; the output is sf times larger
    schedule: steps and kappa of this call (``Schedule.create``); config: what the model was trained with
    model_kwargs: default {'lq': y} when the model is conditioned on the low-quality image;
        add 'mask' (B, 1, h, w) in {-1, 1} for inpainting
    generator / noise: randomness, drawn in float32 on the generator's device (so a seed gives the
        same noise on CPU and CUDA), or the explicit noise tensors
    clip_x0: clamp x0 predictions to [-1, 1]; default: only in pixel space (no first stage, or a
        first stage that sets ``clip_x0``), as the official code
    z_y: the already encoded condition, to skip encoding
    shared_noise: one noise field for the whole batch: every element gets the noise (prior and
        steps) that a batch of one draws from the same generator state, instead of noise of its
        own. Restoring a video's frames in batches this way gives every frame the same noise
        whatever the batch size ("steady noise": static content is restored the same way in
        every frame). Ignored when ``noise`` is given.

    A network with ``noise_channels`` (RSD) also takes that many noise planes at the latent size
    in its input: drawn from ``generator`` right after the prior and step noise (or
    ``noise.inputs``), once per call, and passed to the network as ``noise``.
    """
    if config.predict_type != "xstart":
        raise ValueError(f"predict_type {config.predict_type!r} is not supported (only 'xstart')")
    if y.ndim != 4:
        raise ValueError(f"y must be (B, C, H, W), got shape {tuple(y.shape)}")
    p = _first_param(model)
    device = p.device if p is not None else y.device
    y = y.to(device=device, dtype=torch.float32)
    if model_kwargs is None:
        model_kwargs = {"lq": y} if getattr(model, "cond_lq", True) else {}
    if clip_x0 is None:
        clip_x0 = first_stage is None or bool(getattr(first_stage, "clip_x0", False))

    n = schedule.num_steps
    c = step_coefficients(schedule, config)
    autocast = autocast_context(device, precision)
    with torch.inference_mode(), autocast:
        if z_y is None:
            z_y = encode_first_stage(y, config, first_stage)
        z_y = z_y.to(device=device, dtype=torch.float32)
        if noise is not None:
            if tuple(noise.prior.shape) != tuple(z_y.shape):
                raise ValueError(f"prior noise has shape {tuple(noise.prior.shape)}, expected {tuple(z_y.shape)}")
            if len(noise.steps) < n - 1:
                raise ValueError(f"{len(noise.steps)} step noises given for {n} steps")
            prior = noise.prior.to(device=device, dtype=torch.float32)
            step_noise = [t.to(device=device, dtype=torch.float32) for t in noise.steps]
        else:
            drawn = _draw_all(z_y.shape, n + 1, generator, device, shared=shared_noise)
            prior, step_noise = drawn[0], drawn[1:]
        planes = input_noise_shape(model, z_y.shape)
        if planes is not None:
            if noise is None:
                plane = _draw_all(planes, 1, generator, device, shared=shared_noise)[0]
            elif noise.inputs is None or tuple(noise.inputs.shape[1:]) != planes[1:]:
                raise ValueError(f"this network takes noise planes of shape {planes}: give SamplerNoise(inputs=...)")
            else:
                plane = noise.inputs.to(device=device, dtype=torch.float32)
            model_kwargs = {**model_kwargs, "noise": plane}
        if model_kwargs and hasattr(model, "condition"):  # lq features do not change between steps
            model_kwargs = {"cond": model.condition(**model_kwargs)}
        x = z_y + c.prior_scale * prior
        batch = z_y.shape[0]
        for index, i in enumerate(range(n - 1, -1, -1)):
            t = torch.full((batch,), schedule.timesteps[i], device=device, dtype=torch.long)
            x0 = model(x * c.in_scale[i], t, **model_kwargs).float()
            if clip_x0:
                x0 = x0.clamp(-1, 1)
            x = c.coef1[i] * x + c.coef2[i] * x0
            if i > 0:
                x = x + c.std[i] * step_noise[index]
            yield StepResult(index=index, total=n, t=schedule.timesteps[i], x_t=x, x0_pred=x0)
    return x


def sample_latent(
    model: Callable[..., torch.Tensor],
    y: torch.Tensor,
    schedule: Schedule,
    config: DiffusionConfig,
    *,
    callback: Callable[[StepResult], None] | None = None,
    **kwargs: Any,
) -> torch.Tensor:
    """Run :func:`iter_sample` (``kwargs``: its keyword arguments) to the end, calling ``callback``
    after every step: the final latent, not decoded."""
    steps: Iterator[StepResult] = iter_sample(model, y, schedule, config, **kwargs)
    while True:
        try:
            step = next(steps)
        except StopIteration as stop:
            return stop.value
        if callback is not None:
            callback(step)


def sample(
    model: Callable[..., torch.Tensor],
    y: torch.Tensor,
    schedule: Schedule,
    config: DiffusionConfig,
    *,
    first_stage: FirstStage | None = None,
    callback: Callable[[StepResult], None] | None = None,
    precision: str = "fp32",
    **kwargs: Any,
) -> torch.Tensor:
    """Run :func:`iter_sample` to the end and decode: (B, 3, sf*h, sf*w) float32, not clamped."""
    z = sample_latent(model, y, schedule, config, first_stage=first_stage, callback=callback,
                      precision=precision, **kwargs)
    p = _first_param(model)
    device = p.device if p is not None else y.device
    with torch.inference_mode(), autocast_context(device, precision):
        return decode_first_stage(z, config, first_stage)
