"""A logo or a line of text painted out of a textured photo: the picture to look at (not a unit test).

    python -m benchmarks.inpaint_logo [--data ../shared/datasets] [--out runs/inpaint_logo.png]
                                      [--previous PATH] [--previous-fill blank|telea] [--weights PATH]

Three real photos from the validation-only ``real_lq`` folder (RealSR, never used for training): the
silver "Nikon" lettering on a black fabric camera bag, the UBS keys logo on a glass-and-grid
building facade, and the word "MONTH" (with its bar and arrow) engraved in a wooden calendar. The
mask is the logo's own pixels (thresholded inside a box, with a raised logo's drop shadow, dilated
5 px), as a user would paint it. Columns: the photo, the mask, OpenCV Telea, a previous lite-inpaint
(``--previous``: with blank holes and a push-pull base, at 4 steps, or with ``--previous-fill telea``
the Telea-prefilled kind, at 1 step and one view), and lite-inpaint as bundled (or ``--weights``)
at its defaults, seed 0; a second row per photo zooms in x2 on the logo.
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw

from resshift.catalog import find_model
from resshift.loader import load_model
from resshift.models.fill import classical_fill
from resshift.pipelines import RestoreOptions, inpaint

ROOT = Path(__file__).resolve().parents[1]
# (file, crop box of the photo (left, top, right, bottom), logo box inside the crop, logo brighter than the surface)
CASES = (
    ("real_lq/Nikon_020_LR4.png", (120, 30, 376, 286), (115, 100, 220, 145), True),
    ("real_lq/Nikon_016_LR4.png", (20, 110, 276, 366), (20, 35, 200, 190), False),
    ("real_lq/Nikon_025_LR4.png", (0, 0, 256, 256), (38, 38, 128, 98), False),
)


def logo_mask(crop: np.ndarray, box: tuple[int, int, int, int], bright: bool) -> np.ndarray:
    """The logo's pixels inside ``box``: far from the box's median brightness, and for a bright
    (raised) logo its drop shadow too (darker than the surface), dilated 5 px: a generous brush, as
    a user paints over a logo and its shadow."""
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    left, top, right, bottom = box
    region = grey[top:bottom, left:right]
    med = float(np.median(region))
    hit = (region > med + 40) | (region < med - 15) if bright else region < med - 40
    mask = np.zeros(grey.shape, np.uint8)
    mask[top:bottom, left:right] = hit
    return cv2.dilate(mask, np.ones((11, 11), np.uint8)) > 0


def caption(img: np.ndarray, text: str) -> np.ndarray:
    im = Image.fromarray(img)
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, 0, 7 * len(text) + 6, 14), fill=(0, 0, 0))
    draw.text((3, 1), text, fill=(255, 255, 255))
    return np.asarray(im)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.inpaint_logo", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    p.add_argument("--out", type=Path, default=ROOT / "runs" / "inpaint_logo.png")
    p.add_argument("--previous", type=Path, help="a previous lite-inpaint's weights")
    p.add_argument("--previous-fill", choices=("blank", "telea"), default="blank",
                   help="how the previous weights were conditioned (default blank: the first lite-inpaint)")
    p.add_argument("--weights", type=Path, help="lite-inpaint weights instead of the bundled file")
    args = p.parse_args(argv)
    spec = find_model("lite-inpaint")
    models = [("lite-inpaint", load_model(spec, allow_download=False, unet_path=args.weights))]
    if args.previous and args.previous_fill == "blank":
        old = replace(spec, hole_fill="blank", sampling_steps=None, self_ensemble=1,
                      unet_params={**spec.unet_params, "lq_residual_fill": True})
        models.insert(0, ("previous lite-inpaint, 4 steps", load_model(old, allow_download=False,
                                                                      unet_path=args.previous)))
    elif args.previous:
        old = replace(spec, self_ensemble=1)
        models.insert(0, ("previous lite-inpaint, 1 step", load_model(old, allow_download=False,
                                                                     unet_path=args.previous)))
    rows = []
    for name, crop_box, logo_box, bright in CASES:
        photo = np.asarray(Image.open(args.data / name).convert("RGB").crop(crop_box))
        mask = logo_mask(photo, logo_box, bright)
        shown = photo.copy()
        shown[mask] = (255, 0, 255)
        tiles = [(photo, "photo"), (shown, "mask"), (classical_fill(photo, mask, "telea", 3), "OpenCV Telea")]
        for label, model in models:
            result = inpaint(model, photo, mask, RestoreOptions(seed=0))
            views = result.facts().get("self_ensemble", 1)
            tiles.append((result.image, f"{label}" + ("" if "previous" in label else
                                                      f", {result.steps} step, {views} views")))
        left, top, right, bottom = logo_box
        cx, cy = (left + right) // 2, (top + bottom) // 2
        x0, y0 = int(np.clip(cx - 64, 0, 128)), int(np.clip(cy - 64, 0, 128))
        zoom = [np.asarray(Image.fromarray(t[y0:y0 + 128, x0:x0 + 128]).resize((256, 256), Image.NEAREST))
                for t, _ in tiles]  # zoomed from the uncaptioned tiles
        rows += [np.concatenate([caption(t, label) for t, label in tiles], 1), np.concatenate(zoom, 1)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, 0)).save(args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
