"""Inpainting inside the holes: the lite model against OpenCV's classical fills (not a unit test).

    python -m benchmarks.inpaint_fill [--data ../shared/datasets] [--masks rect3,lama]
                                      [--variants blank,y0-telea,telea,telea-nomask,ns]
                                      [--steps 1,2,3,4] [--sets set5,set14,bsd100]
                                      [--weights lite-inpaint=PATH ...] [--json out.json]

PSNR (dB) over the missing pixels only, averaged over images, on 256x256 centre crops of the
validation split. Masks, each drawn from seed + image index:

- rect3: three rectangles per crop, each side 24-48 px (the "logo or word painted out" case);
- lama: the LaMa-style masks of the training pipeline (``MaskConfig()``, 5-50 % of the image).

Variants say how the sampler's y0 (the chain's start), the network's condition ``lq`` and its
residual base are built from the image with its holes (``--weights`` may name several files for the
same model as NAME=PATH,NAME@tag=PATH to compare checkpoints):

- blank: y0 = lq = holes at -1 (the official conditioning), base = push-pull fill of the holes;
- y0-telea: y0 = Telea fill, lq = blank + mask, base = push-pull (prefill in y0 only);
- telea: y0 = lq = Telea fill + mask, base = the Telea fill (prefill everywhere, the network refines it);
- telea-nomask: as telea but the mask channel says "all known";
- ns: as telea with OpenCV's Navier-Stokes fill.

Known pixels are pasted back, as the pipeline does. The row "defaults" is the product itself:
``resshift.inpaint`` at the model's defaults (its steps, its self-ensemble of flipped views, 'auto'
precision: bf16 on a CPU with native bfloat16), seed 0; ``--self-ensemble N`` adds rows of the
telea variant at 1 step with N views. Reference rows: the classical fills alone
(OpenCV's Telea at radius 3, the yardstick of the "vs Telea" column, as ``benchmarks.quality``; the
prefill's radius ``FILL_RADIUS``) and the push-pull fill alone. Sampling seed 0; everything runs in one thread.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.quality import images, inpaint_cases, masked_psnr
from resshift.catalog import find_model
from resshift.diffusion.sampler import sample
from resshift.loader import load_model
from resshift.models.fill import FILL_RADIUS, classical_fill, push_pull_fill
from resshift.pipelines import RestoreOptions, inpaint
from resshift.pipelines.restore import pad_to_multiple

ROOT = Path(__file__).resolve().parents[1]


def rect_holes(size: int, rng: np.random.Generator, count: int = 3, lo: int = 24, hi: int = 48) -> np.ndarray:
    """(size, size) bool: ``count`` rectangles, each side uniform in [lo, hi] px, anywhere in the crop."""
    mask = np.zeros((size, size), dtype=bool)
    for _ in range(count):
        h, w = (int(v) for v in rng.integers(lo, hi + 1, size=2))
        top, left = int(rng.integers(0, size - h + 1)), int(rng.integers(0, size - w + 1))
        mask[top:top + h, left:left + w] = True
    return mask


def cases(paths: list[Path], kind: str, size: int = 256, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """benchmarks.quality's crops, with three rectangular holes ('rect3') or LaMa-style masks."""
    return inpaint_cases(paths, size, seed, masks=rect_holes if kind == "rect3" else None)


def to_tensor(img: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(img).permute(2, 0, 1)[None].float() / 127.5 - 1


def to_uint8(x: torch.Tensor) -> np.ndarray:
    return ((x[0].clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()


def run_variant(model, variant: str, img: np.ndarray, mask: np.ndarray, steps: int, seed: int = 0) -> np.ndarray:
    x = to_tensor(img)
    m = torch.from_numpy(mask)[None, None].float()
    blank = torch.where(m > 0, torch.full_like(x, -1.0), x)
    method = "ns" if variant == "ns" else "telea"
    filled = to_tensor(classical_fill(img, mask, method)) if variant != "blank" else blank
    mask_in = m * 2 - 1
    unet = model.unet
    keep = unet.lq_residual_fill
    if variant == "blank":
        y, lq, fill = blank, blank, True
    elif variant == "y0-telea":
        y, lq, fill = filled, blank, True
    elif variant == "telea-nomask":
        y, lq, fill, mask_in = filled, filled, False, torch.full_like(m, -1.0)
    else:
        y, lq, fill = filled, filled, False
    # padded to the network's multiple as the pipeline does (reflect), cropped back
    padded, h, w = pad_to_multiple(torch.cat([y, lq, mask_in], dim=1), model.input_multiple)
    y, lq, mask_in = padded[:, :3], padded[:, 3:6], padded[:, 6:]
    unet.lq_residual_fill = fill
    try:
        schedule = model.schedule(steps)
        out = sample(unet, y, schedule, model.spec.diffusion, first_stage=model.first_stage,
                     model_kwargs={"lq": lq, "mask": mask_in},
                     generator=torch.Generator().manual_seed(seed))
    finally:
        unet.lq_residual_fill = keep
    return np.where(mask[..., None], to_uint8(out[:, :, :h, :w]), img)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.inpaint_fill", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    p.add_argument("--masks", default="rect3,lama")
    p.add_argument("--variants", default="blank,y0-telea,telea,telea-nomask,ns")
    p.add_argument("--steps", default="1,2,3,4")
    p.add_argument("--sets", default="set5,set14,bsd100")
    p.add_argument("--limit", type=int, default=0, help="at most this many images (0: all)")
    p.add_argument("--weights", action="append", default=[], metavar="LABEL=PATH",
                   help="lite-inpaint weights to measure under LABEL (default: the bundled file as 'bundled')")
    p.add_argument("--self-ensemble", default="", help="comma-separated views (1, 2, 4) for extra rows of the "
                   "pipeline at 1 step with that many flipped views averaged")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    natural = args.data / "natural" / "val"
    paths = [q for s in args.sets.split(",") for q in images(natural / s)]
    if args.limit:
        paths = paths[: args.limit]
    spec = find_model("lite-inpaint")
    weights = dict(w.split("=", 1) for w in args.weights) or {"bundled": None}
    results: dict = {"date": time.strftime("%Y-%m-%d %H:%M"), "images": len(paths), "sets": args.sets, "rows": []}
    for kind in args.masks.split(","):
        cs = cases(paths, kind)
        hole = float(np.mean([m.mean() for _, m in cs]))
        rows = []
        for method, radius in (("telea", 3), ("ns", 3), ("telea", FILL_RADIUS)):  # the first: the yardstick
            rows.append([f"OpenCV {method}, radius {radius}", "-",
                         np.mean([masked_psnr(classical_fill(i, m, method, radius), i, m) for i, m in cs])])
        pp = [to_uint8(push_pull_fill(to_tensor(i), torch.from_numpy(~m)[None, None].float())) for i, m in cs]
        rows.append(["push-pull", "-", np.mean([masked_psnr(o, i, m) for o, (i, m) in zip(pp, cs)])])
        for label, path in weights.items():
            model = load_model(spec, device="cpu", allow_download=False, unet_path=path)
            runs = [("defaults", RestoreOptions(seed=0))]
            runs += [(f"pipeline, 1 step, {v} views", RestoreOptions(seed=0, steps=1, self_ensemble=int(v)))
                     for v in args.self_ensemble.split(",") if v]
            for name, options in runs:
                t0 = time.time()
                v = np.mean([masked_psnr(inpaint(model, i, m, options).image, i, m) for i, m in cs])
                steps = options.steps or spec.default_steps
                rows.append([f"{label}: {name}" + (f" ({spec.self_ensemble} views)" if name == "defaults" else ""),
                             steps, v])
                print(f"  {kind} {label} {name}: {v:.3f} ({time.time() - t0:.0f} s)", flush=True)
            for variant in args.variants.split(","):
                for steps in (int(s) for s in args.steps.split(",")):
                    t0 = time.time()
                    v = np.mean([masked_psnr(run_variant(model, variant, i, m, steps), i, m) for i, m in cs])
                    rows.append([f"{label}: {variant}", steps, v])
                    print(f"  {kind} {label} {variant} {steps}: {v:.3f} ({time.time() - t0:.0f} s)", flush=True)
        telea = rows[0][2]
        print(f"\n### {kind} masks, {len(cs)} images ({args.sets}), {hole:.1%} of the pixels missing; PSNR inside the holes\n")
        print("| method | steps | PSNR (holes) | vs Telea |\n| --- | --- | --- | --- |")
        for name, steps, v in rows:
            print(f"| {name} | {steps} | {v:.2f} | {v - telea:+.2f} |")
        results["rows"] += [{"masks": kind, "method": n, "steps": s, "psnr": round(float(v), 3),
                             "vs_telea": round(float(v - telea), 3)} for n, s, v in rows]
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
