"""Push-pull fill: a smooth, cheap guess for missing pixels (a pure function, no weights).

Known pixels are averaged down an image pyramid (push) and the coarse averages are pulled back up
into the holes, so every missing pixel gets a smooth interpolation of its surroundings, however
large the hole. Used as the starting point of the lite inpainting model's prediction.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def push_pull_fill(image: torch.Tensor, known: torch.Tensor, levels: int | None = None) -> torch.Tensor:
    """image (B, C, H, W), known (B, 1, H, W) in [0, 1] (1 = known) -> image with holes filled.

    Known pixels are returned unchanged; a fully missing image becomes zeros.
    """
    if levels is None:
        levels = max(1, (min(image.shape[-2:]) - 1).bit_length())
    image, known = image.float(), known.float()
    sizes, values, weights = [], [image * known], [known]
    for _ in range(levels):
        v, w = values[-1], weights[-1]
        if min(v.shape[-2:]) < 2:
            break
        sizes.append(v.shape[-2:])
        values.append(F.avg_pool2d(v, 2, ceil_mode=True))
        weights.append(F.avg_pool2d(w, 2, ceil_mode=True))
    estimate = values[-1] / weights[-1].clamp_min(1e-6)
    for v, w, size in zip(reversed(values[:-1]), reversed(weights[:-1]), reversed(sizes)):
        up = F.interpolate(estimate, size=size, mode="bilinear", align_corners=False)
        mean = v / w.clamp_min(1e-6)
        a = w.clamp(0, 1)
        estimate = a * mean + (1 - a) * up
    return torch.where(known > 0.5, image, estimate)
