"""The residual-shifting schedule of ResShift, and respacing to fewer sampling steps.

Notation (the paper's): the forward chain moves the high-quality x0 towards the low-quality y0,

    x_t = x0 + eta_t * (y0 - x0) + kappa * sqrt(eta_t) * noise,   t = 1..T,

with eta increasing from eta_1 ~ 0 to eta_T ~ 1 and kappa scaling the noise. The reverse
posterior q(x_{t-1} | x_t, x0) is Gaussian with

    mean     = (eta_{t-1} / eta_t) * x_t + (alpha_t / eta_t) * x0,   alpha_t = eta_t - eta_{t-1}
    variance = kappa^2 * eta_{t-1} / eta_t * alpha_t.

Indices in code are 0-based: step index 0 is the paper's t = 1. All numbers are float64.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

import numpy as np

Spacing = Literal["leading", "trailing"]
SPACINGS: tuple[str, ...] = ("leading", "trailing")
# Default respacing for sampling with fewer steps than trained (see docs/library.md, "Respacing").
DEFAULT_SPACING: Spacing = "trailing"


@dataclass(frozen=True)
class DiffusionConfig:
    """Diffusion settings a model was trained with (the official ``diffusion.params``)."""

    steps: int = 4
    kappa: float = 2.0
    min_noise_level: float = 0.2
    etas_end: float = 0.99
    power: float = 0.3
    sf: int = 4  # scale between the low-quality input and the output (1 for inpainting and faces)
    predict_type: str = "xstart"
    normalize_input: bool = True
    latent: bool = True  # input normalisation of a latent space (else of pixels)
    scale_factor: float = 1.0  # latents are multiplied by this after encoding

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.kappa <= 0:
            raise ValueError(f"kappa must be > 0, got {self.kappa}")
        if not 0 < self.min_noise_level < 1 or not 0 < self.etas_end <= 1:
            raise ValueError("min_noise_level must be in (0, 1) and etas_end in (0, 1]")
        if self.sf < 1:
            raise ValueError(f"sf must be >= 1, got {self.sf}")
        if self.predict_type != "xstart":
            raise ValueError(
                f"predict_type {self.predict_type!r} is not supported: every released ResShift model "
                "predicts x0 ('xstart')"
            )

    @classmethod
    def from_official(cls, params: Mapping[str, Any]) -> "DiffusionConfig":
        """Build from an official YAML ``diffusion.params`` block (or this class's own field names)."""
        p = dict(params)
        schedule = p.get("schedule_name", p.get("schedule", "exponential"))
        if schedule != "exponential":
            raise ValueError(f"only the exponential eta schedule is supported, got {schedule!r}")
        power = p.get("power", (p.get("schedule_kwargs") or {}).get("power", 0.3))
        return cls(
            steps=int(p["steps"]), kappa=float(p["kappa"]),
            min_noise_level=float(p["min_noise_level"]), etas_end=float(p.get("etas_end", 0.99)),
            power=float(power), sf=int(p.get("sf", 4)),
            predict_type=str(p.get("predict_type", "xstart")),
            normalize_input=bool(p.get("normalize_input", True)),
            latent=bool(p.get("latent_flag", p.get("latent", True))),
            scale_factor=float(p.get("scale_factor") or 1.0),
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def exponential_sqrt_etas(steps: int, kappa: float, min_noise_level: float, etas_end: float = 0.99,
                          power: float = 0.3) -> np.ndarray:
    """sqrt(eta_t) for t = 1..T: geometric growth from sqrt(eta_1) to etas_end, warped by ``power``.

    sqrt(eta_1) = min(min_noise_level / kappa, min_noise_level), so kappa * sqrt(eta_1) is the
    smallest noise level. With a single step, sqrt(eta_1) = etas_end.
    """
    if steps < 1:
        raise ValueError("steps must be >= 1")
    if steps == 1:
        return np.array([etas_end], dtype=np.float64)
    start = min(min_noise_level / kappa, min_noise_level)
    growth = math.exp(math.log(etas_end / start) / (steps - 1))
    exponent = np.linspace(0, 1, steps, endpoint=True) ** power * (steps - 1)
    return np.power(np.full(steps, growth), exponent) * start


def respace(trained_steps: int, steps: int, spacing: Spacing = DEFAULT_SPACING) -> tuple[int, ...]:
    """Which trained timesteps (0-based, increasing) a ``steps``-step sampler uses.

    leading:  int(T / n * i) for i < n, the official ResShift respacing; it always keeps t = 0 and
              drops the last trained steps, so the chain does not start from the true prior.
    trailing: round(T - i * T / n) - 1 for i < n; it always keeps the last trained step T - 1, so
              sampling starts from the prior x_T = y0 + kappa * sqrt(eta_T) * noise (n = 1 included).
    """
    if not 1 <= steps <= trained_steps:
        raise ValueError(f"steps must be in 1..{trained_steps}, got {steps}")
    if spacing == "leading":
        chosen = {int(trained_steps / steps * i) for i in range(steps)}
    elif spacing == "trailing":
        chosen = {int(np.round(trained_steps - i * trained_steps / steps)) - 1 for i in range(steps)}
    else:
        raise ValueError(f"spacing must be one of {SPACINGS}, got {spacing!r}")
    if len(chosen) != steps:  # cannot happen for n <= T, but never sample a wrong count silently
        raise AssertionError(f"respacing {trained_steps}->{steps} ({spacing}) gave {sorted(chosen)}")
    return tuple(sorted(chosen))


@dataclass(frozen=True, eq=False)
class Schedule:
    """The sampling schedule of one call: the chosen trained timesteps and their posterior terms.

    sqrt_etas[i] belongs to trained timestep ``timesteps[i]``; sampling runs i = n-1 .. 0.
    """

    sqrt_etas: np.ndarray
    timesteps: tuple[int, ...]
    kappa: float
    etas: np.ndarray = field(init=False, repr=False)
    etas_prev: np.ndarray = field(init=False, repr=False)
    posterior_variance: np.ndarray = field(init=False, repr=False)
    posterior_mean_coef1: np.ndarray = field(init=False, repr=False)
    posterior_mean_coef2: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        sqrt_etas = np.asarray(self.sqrt_etas, dtype=np.float64)
        if sqrt_etas.ndim != 1 or len(sqrt_etas) != len(self.timesteps) or len(sqrt_etas) == 0:
            raise ValueError("sqrt_etas and timesteps must be non-empty and of the same length")
        etas = sqrt_etas ** 2
        if not ((etas > 0).all() and (etas <= 1).all() and (np.diff(etas) > 0).all()):
            raise ValueError("etas must increase within (0, 1]")
        etas_prev = np.append(0.0, etas[:-1])
        alpha = etas - etas_prev
        sqrt_etas.setflags(write=False)
        for name, value in (
            ("sqrt_etas", sqrt_etas), ("etas", etas), ("etas_prev", etas_prev),
            ("posterior_variance", self.kappa ** 2 * etas_prev / etas * alpha),
            ("posterior_mean_coef1", etas_prev / etas), ("posterior_mean_coef2", alpha / etas),
        ):
            value.setflags(write=False)
            object.__setattr__(self, name, value)

    @property
    def num_steps(self) -> int:
        return len(self.timesteps)

    @classmethod
    def create(cls, config: DiffusionConfig, steps: int | None = None, kappa: float | None = None,
               spacing: Spacing = DEFAULT_SPACING) -> "Schedule":
        """The schedule of a model trained with ``config``, sampled with ``steps`` and ``kappa``.

        kappa (default: the trained one) rebuilds the whole eta schedule with the same formula;
        steps (default: the trained count) picks trained timesteps by ``spacing``.
        """
        kappa = config.kappa if kappa is None else float(kappa)
        if kappa <= 0:
            raise ValueError(f"kappa must be > 0, got {kappa}")
        base = exponential_sqrt_etas(config.steps, kappa, config.min_noise_level, config.etas_end,
                                     config.power)
        chosen = respace(config.steps, config.steps if steps is None else int(steps), spacing)
        return cls(sqrt_etas=base[list(chosen)], timesteps=chosen, kappa=kappa)
