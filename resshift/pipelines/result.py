"""The one result type every restoration returns: a task pipeline, a whole photo, a comparison
restorer such as GFPGAN, a batch item.

Diffusion settings (steps, kappa, seed, timesteps) are None for a restorer that has none (GFPGAN);
the whole-photo fields (faces, message, background) are set only by whole-photo runs; scale by
whole photos and super-resolutions.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np


def icc_description(profile: bytes) -> str:
    """An ICC profile's name as its description tag says it ('Display P3'), else 'embedded'."""
    try:
        from PIL import ImageCms

        return ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(profile))).strip() or "embedded"
    except Exception:  # noqa: BLE001 - a profile Little CMS cannot read is still carried as it is
        return "embedded"


@dataclass(frozen=True, eq=False)
class RestoreResult:
    """image: (H, W, 3) or (H, W, 4) uint8 RGB(A); model: the restorer's name; device: where it ran;
    seconds: wall time of the run; tiles: tiles of the most tiled stage (1 = whole).

    steps / kappa / seed / timesteps: the diffusion run's settings (None / () for other restorers).
    faces: the restored faces of a whole photo (``resshift.face.PhotoFace``, highest detector score
    first), or None when the input was not a whole photo; message: one sentence about what was done
    (e.g. 'Restored 2 faces.'); scale: the output scale of a whole photo or a super-resolution;
    background: how a photo's background was made ('resize' or the SR model's name). icc_profile:
    the input's ICC colour profile (None: none, or not an RGB one), written into the saved file.
    extra: other facts of the task (e.g. ``masked_fraction``; ``fitted_from``, the size of a photo
    downscaled to a limit before it was restored)."""

    image: np.ndarray
    model: str
    device: str
    seconds: float
    steps: int | None = None
    kappa: float | None = None
    seed: int | None = None
    timesteps: tuple[int, ...] = ()
    tiles: int = 1
    faces: tuple | None = None
    message: str = ""
    scale: int | None = None
    background: str | None = None
    extra: dict = field(default_factory=dict)
    icc_profile: bytes | None = field(default=None, repr=False)

    def save(self, path) -> None:
        """Write the image losslessly (the format follows the file name's suffix; PNG keeps alpha),
        under a temporary name beside it first, renamed when complete: a reader (or a rerun that
        skips finished outputs) never sees a half-written file; with the input's colour profile
        (PNG, JPEG, WebP and TIFF carry one). ValueError for a suffix Pillow cannot write."""
        from pathlib import Path

        from PIL import Image

        from ..media.atomic import atomic_target

        target = Path(path)
        fmt = Image.registered_extensions().get(target.suffix.lower())
        if fmt is None:
            raise ValueError(f"unknown image file extension {target.suffix!r} for {target.name}")
        params = {"icc_profile": self.icc_profile} if self.icc_profile else {}
        with atomic_target(target) as tmp:
            Image.fromarray(np.ascontiguousarray(self.image)).save(tmp, format=fmt, **params)

    def facts(self) -> dict:
        """The run as plain JSON-able values (what the studio shows and the CLI prints)."""
        h, w = self.image.shape[:2]
        facts: dict = {"model": self.model}
        if self.steps is not None:
            facts.update(steps=self.steps, kappa=self.kappa, seed=self.seed, timesteps=list(self.timesteps))
        facts.update(device=self.device, seconds=round(self.seconds, 3), tiles=self.tiles, size=f"{w}x{h}")
        if self.faces is not None:
            facts.update(faces=len(self.faces), scale=self.scale, background=self.background)
        elif self.scale is not None:
            facts["scale"] = self.scale
        if self.icc_profile:
            facts["color_profile"] = icc_description(self.icc_profile)
        if self.message:
            facts["message"] = self.message
        return {**facts, **self.extra}
