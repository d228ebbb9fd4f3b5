"""Exponential moving average of the network's weights (the weights that get exported)."""
from __future__ import annotations

import torch
from torch import nn


class EMA:
    """A frozen copy of ``model`` whose parameters follow ``p_ema <- d p_ema + (1 - d) p``.

    shadow: a new module of the same architecture, already on the model's device and memory
    format (the Swin-UNet holds locks, so it is built rather than deep-copied); it starts from the
    model's weights. The decay d warms up as min(rate, (1 + step) / (10 + step)) so that the
    random initial weights fade quickly in a short run. Buffers are copied as they are.
    """

    def __init__(self, model: nn.Module, rate: float, shadow: nn.Module):
        if not 0 <= rate < 1:
            raise ValueError(f"EMA rate must be in [0, 1), got {rate}")
        self.rate = rate
        shadow.load_state_dict(model.state_dict(), strict=True)
        self.model = shadow.eval().requires_grad_(False)

    def decay(self, step: int) -> float:
        return min(self.rate, (1 + step) / (10 + step))

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        d = self.decay(step)
        ema_params = list(self.model.parameters())
        params = [p.detach() for p in model.parameters()]
        if len(ema_params) != len(params):
            raise ValueError("EMA and model have different parameter lists")
        torch._foreach_lerp_(ema_params, params, 1.0 - d)
        for ema_buf, buf in zip(self.model.buffers(), model.buffers()):
            ema_buf.copy_(buf)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state, strict=True)
