"""How much tiling changes a restoration (not a unit test): tiled against untiled, same seed.

    python -m benchmarks.tiling [--data ../shared/datasets] [--images 40]

With the bundled lite models, prints:
- SR x4 (lite-sr) on bicubic-downscaled validation images (Set5, Set14, BSD100), 64 px tiles with a
  16 px overlap: PSNR (Y) against the ground truth, tiled and untiled, and the PSNR (RGB) of the
  tiled result against the untiled one on the images that are tiled;
- the same on the tests' 128x128 BSD crop (the unit test's case);
- inpainting (lite-inpaint) of six BSD100 images resized to 768x512 with six 60x70 holes each,
  256 px tiles with a 32 px overlap: PSNR inside the holes, tiled against untiled and each against
  the original pixels.
Run it from the repository root on a CPU machine; run it at an older commit to compare tiling
schemes (benchmarks/RESULTS.md has such figures).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from benchmarks.quality import ROOT, images, masked_psnr, metrics, sr_pairs
from resshift.catalog import find_model
from resshift.runtime.compat import install_torchvision_compat
from resshift.loader import load_model
from resshift.pipelines import RestoreOptions, inpaint, super_resolve

install_torchvision_compat()  # before basicsr is imported
from basicsr.metrics.psnr_ssim import calculate_psnr  # noqa: E402


def sr_rows(model, pairs, tile: int, overlap: int) -> tuple[float, float, float, int]:
    gt_whole, gt_tiled, apart, tiled_count = [], [], [], 0
    for i, (lr, hr) in enumerate(pairs):
        whole = super_resolve(model, lr, RestoreOptions(seed=i, tile=0)).image
        parts = super_resolve(model, lr, RestoreOptions(seed=i, tile=tile, tile_overlap=overlap))
        gt_whole.append(metrics(whole, hr)[0])
        gt_tiled.append(metrics(parts.image, hr)[0])
        if parts.tiles > 1:
            tiled_count += 1
            apart.append(calculate_psnr(parts.image, whole, crop_border=0))
    return float(np.mean(gt_tiled)), float(np.mean(gt_whole)), float(np.mean(apart)), tiled_count


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.tiling", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    p.add_argument("--images", type=int, default=40, help="SR validation images (Set5, Set14, BSD100 order)")
    args = p.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    natural = args.data / "natural" / "val"
    if not natural.is_dir():
        p.error(f"no validation images at {natural}: pass --data DIR holding natural/val/{{set5,set14,bsd100}} "
                "(and faces/val for the face model): the public sets named in benchmarks/RESULTS.md")

    sr = load_model(find_model("lite-sr"), allow_download=False)
    paths = [q for s in ("set5", "set14", "bsd100") for q in images(natural / s)][: args.images]
    tiled_gt, whole_gt, apart, count = sr_rows(sr, sr_pairs(paths, "bicubic"), 64, 16)
    print("| case | PSNR tiled vs untiled | vs ground truth: tiled / untiled |")
    print("| --- | --- | --- |")
    print(f"| lite-sr, {len(paths)} validation images (bicubic x4), 64 px tiles, overlap 16 "
          f"({count} tiled) | {apart:.2f} dB | {tiled_gt:.3f} / {whole_gt:.3f} dB (Y) |")

    crop = np.asarray(Image.open(ROOT / "tests" / "data" / "images" / "bsd100_crop.png").convert("RGB"))
    whole = super_resolve(sr, crop, RestoreOptions(seed=4, tile=0)).image
    parts = super_resolve(sr, crop, RestoreOptions(seed=4, tile=64, tile_overlap=16))
    print(f"| lite-sr, the tests' 128x128 crop, 64 px tiles ({parts.tiles}) | {calculate_psnr(parts.image, whole, crop_border=0):.2f} dB | — |")

    inp = load_model(find_model("lite-inpaint"), allow_download=False)
    apart, gt_whole, gt_tiled = [], [], []
    for i, path in enumerate(images(natural / "bsd100")[:6]):
        img = np.asarray(Image.open(path).convert("RGB").resize((768, 512)))
        mask = np.zeros(img.shape[:2], bool)
        rng = np.random.default_rng(i)
        for _ in range(6):
            y, x = rng.integers(0, 450), rng.integers(0, 700)
            mask[y:y + 60, x:x + 70] = True
        a = inpaint(inp, img, mask, RestoreOptions(seed=i, tile=0)).image
        b = inpaint(inp, img, mask, RestoreOptions(seed=i, tile=256, tile_overlap=32)).image
        apart.append(masked_psnr(b, a, mask))
        gt_whole.append(masked_psnr(a, img, mask))
        gt_tiled.append(masked_psnr(b, img, mask))
    print(f"| lite-inpaint, 6 BSD100 images at 768x512, six 60x70 holes, 256 px tiles, overlap 32 | "
          f"{np.mean(apart):.2f} dB (in the holes) | {np.mean(gt_tiled):.2f} / {np.mean(gt_whole):.2f} dB "
          f"(in the holes) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
