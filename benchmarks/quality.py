"""Quality benchmark of the restoration models on the validation images (not a unit test).

    python -m benchmarks.quality [--data ../shared/datasets]
                                 [--models lite-sr,lite-sr-bicubic,lite-inpaint,lite-face]
                                 [--quick] [--json results.json] [--weights NAME=PATH]

Prints, per task, markdown tables:
- SR x4 on bicubic-downscaled and on Real-ESRGAN-degraded inputs: PSNR (Y) / SSIM (Y), border 4,
  against bicubic up-sampling and against the same network's 1-step prediction;
- inpainting: PSNR inside the mask against OpenCV's Telea inpainting;
- faces: PSNR / SSIM against the degraded input (bicubic-resized back to 512) on GFPGAN-style
  degradations of 512x512 faces;
- the effect of steps (1..T, leading and trailing respacing) and kappa (0.5-4) on these figures.
The main tables measure the model's default steps, its trained steps and 1, or ``--steps 1,2,3,4``.
Every degradation and mask is drawn from a fixed seed, so the numbers are reproducible. Run from the
repository root, on a CPU machine or a CUDA one (``--device cuda``); ``--quick --no-sweeps`` for a
short run. The JSON (``--json``) records each model's seconds.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from resshift.catalog import find_model
from resshift.runtime.compat import install_torchvision_compat
from resshift.data import FaceDegradationConfig, MaskConfig, RealESRGANConfig, RealESRGANDegradation
from resshift.data.faces import degrade_face
from resshift.data.masks import random_mask
from resshift.data.realesrgan import bicubic_downsample
from resshift.data.util import cpu_generator
from resshift.loader import load_model
from resshift.pipelines import RestoreOptions, inpaint, restore_face, super_resolve

install_torchvision_compat()  # before basicsr is imported
from basicsr.metrics.psnr_ssim import calculate_psnr, calculate_ssim  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}
KAPPAS = (0.5, 1.0, 2.0, 4.0)


def images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def load_rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def metrics(out: np.ndarray, gt: np.ndarray, border: int = 4) -> tuple[float, float]:
    """PSNR / SSIM on the Y channel (BT.601), as SR papers report them."""
    a, b = out[..., ::-1], gt[..., ::-1]  # basicsr expects BGR
    return (calculate_psnr(a, b, crop_border=border, test_y_channel=True),
            calculate_ssim(a, b, crop_border=border, test_y_channel=True))


def masked_psnr(out: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> float:
    """PSNR in dB over the pixels where ``mask`` (H, W bool) is set; uint8 H x W x 3 images. basicsr's
    PSNR on the selected pixels (an N x 3 array, which it reads as an N x 3 x 1 image): its mean
    squared error is then the mean over exactly those pixels. inf when they are equal."""
    return calculate_psnr(out[mask], gt[mask], crop_border=0)


def bicubic_up(lr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(lr).resize(size, Image.BICUBIC))


def mean(rows: list[tuple[float, ...]]) -> tuple[float, ...]:
    return tuple(round(float(np.mean(c)), 3) for c in zip(*rows))


def table(title: str, header: list[str], rows: list[list]) -> str:
    lines = [f"\n### {title}\n", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- SR
def sr_pairs(hr_paths: list[Path], kind: str, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(lr uint8, hr uint8) pairs; HR cropped to a multiple of 4 (and of 64 px for the degradation)."""
    pairs = []
    degrade = RealESRGANDegradation(RealESRGANConfig(bicubic_prob=0.0))
    kernels = RealESRGANConfig().kernels
    for i, path in enumerate(hr_paths):
        hr = load_rgb(path)
        h, w = hr.shape[0] // 4 * 4, hr.shape[1] // 4 * 4
        hr = hr[:h, :w]
        gt = torch.from_numpy(np.ascontiguousarray(hr)).permute(2, 0, 1)[None].float() / 255
        if kind == "bicubic":
            lq = bicubic_downsample(gt, 4)
        else:
            k = kernels(hr, np.random.default_rng(seed + i))
            _, lq = degrade(gt, k["kernel1"][None], k["kernel2"][None], k["sinc_kernel"][None],
                            generator=cpu_generator(seed + i), choices=cpu_generator(seed + 1000 + i))
        lr = (lq[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        pairs.append((lr, hr))
    return pairs


def run_sr(model, pairs, options) -> tuple[float, float]:
    rows = []
    for lr, hr in pairs:
        out = super_resolve(model, lr, options).image
        rows.append(metrics(out, hr))
    return mean(rows)


# ----------------------------------------------------------------------------- inpainting
def inpaint_cases(paths: list[Path], size: int = 256, seed: int = 0, masks=None) -> list[tuple[np.ndarray, np.ndarray]]:
    """(centre crop of at most ``size``, its mask) per image; masks(side, rng) -> (side, side) bool,
    default LaMa-style (``random_mask``); the rng is seeded ``seed + i`` for image i."""
    cases = []
    cfg = MaskConfig()
    masks = masks or (lambda side, rng: random_mask(side, side, cfg, rng) > 0.5)
    for i, path in enumerate(paths):
        img = load_rgb(path)
        h, w = img.shape[:2]
        s = min(h, w, size)
        top, left = (h - s) // 2, (w - s) // 2
        img = np.ascontiguousarray(img[top:top + s, left:left + s])
        cases.append((img, masks(s, np.random.default_rng(seed + i))))
    return cases


def run_inpaint(model, cases, options) -> float:
    return round(float(np.mean([masked_psnr(inpaint(model, img, m, options).image[..., :3], img, m)
                                for img, m in cases])), 3)


def telea(cases) -> float:
    vals = []
    for img, mask in cases:
        corrupted = img.copy()
        corrupted[mask] = 0
        out = cv2.inpaint(corrupted[..., ::-1].copy(), mask.astype(np.uint8) * 255, 3, cv2.INPAINT_TELEA)[..., ::-1]
        vals.append(masked_psnr(out, img, mask))
    return round(float(np.mean(vals)), 3)


# ----------------------------------------------------------------------------- faces
def face_cases(paths: list[Path], seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    cfg = FaceDegradationConfig()
    cases = []
    for i, path in enumerate(paths):
        gt = np.asarray(Image.open(path).convert("RGB").resize((512, 512), Image.LANCZOS)).astype(np.float32) / 255
        gt_out, lq = degrade_face(gt, cfg, np.random.default_rng(seed + i))
        to8 = lambda a: (np.clip(a, 0, 1) * 255).round().astype(np.uint8)  # noqa: E731
        cases.append((to8(lq), to8(gt_out)))
    return cases


def run_face(model, cases, options) -> tuple[float, float]:
    return mean([metrics(restore_face(model, lq, options).image[..., :3], gt, border=0) for lq, gt in cases])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    p.add_argument("--models", default="lite-sr,lite-sr-bicubic,lite-inpaint,lite-face")
    p.add_argument("--quick", action="store_true", help="fewer images (Set5 + Set14, 8 faces) and no sweeps on BSD100")
    p.add_argument("--no-sweeps", action="store_true")
    p.add_argument("--sr-inputs", default="bicubic,realesrgan", help="SR input degradations to measure")
    p.add_argument("--seed", type=int, default=0, help="sampling seed")
    p.add_argument("--steps", default="",
                   help="comma-separated step counts for the main tables (default: the model's default "
                        "steps, its trained steps and 1)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--json", type=Path)
    p.add_argument("--weights", action="append", default=[], metavar="NAME=PATH",
                   help="evaluate another Swin-UNet file for model NAME (e.g. a training run's export)")
    args = p.parse_args(argv)
    unet_paths = dict(w.split("=", 1) for w in args.weights)
    results: dict = {"date": time.strftime("%Y-%m-%d"), "device": args.device, "torch": torch.__version__}
    natural = args.data / "natural" / "val"
    if not natural.is_dir():
        p.error(f"no validation images at {natural}: pass --data DIR holding natural/val/{{set5,set14,bsd100}} "
                "(and faces/val for the face model): the public sets named in benchmarks/RESULTS.md")
    for name in args.models.split(","):
        spec = find_model(name)
        model = load_model(spec, device=args.device, allow_download=False, unet_path=unet_paths.get(name))
        T, kappa0 = spec.diffusion.steps, spec.diffusion.kappa
        opts = lambda **kw: RestoreOptions(seed=args.seed, **kw)  # noqa: E731
        step_list = ([int(v) for v in args.steps.split(",")] if args.steps else
                     list(dict.fromkeys([spec.default_steps, T, 1])))
        label = lambda n: f"{name}, {n} step{'s' if n != 1 else ''}" + (" (default)" if n == spec.default_steps else "")  # noqa: E731
        started = time.time()
        res: dict = {}
        print(f"\n## {name} ({spec.title}; trained with {T} steps, kappa {kappa0})")
        if spec.task == "sr":
            sets = ["set5", "set14"] + ([] if args.quick else ["bsd100"])
            paths = [p for s in sets for p in images(natural / s)]
            for kind in args.sr_inputs.split(","):
                pairs = sr_pairs(paths, kind)
                bic = mean([metrics(bicubic_up(lr, (hr.shape[1], hr.shape[0])), hr) for lr, hr in pairs])
                got = {n: run_sr(model, pairs, opts(steps=n)) for n in step_list}
                res[kind] = {"images": len(pairs), "bicubic": bic, **{f"resshift_{n}": v for n, v in got.items()}}
                print(table(f"SR x4, {kind} inputs ({', '.join(sets)}: {len(pairs)} images), PSNR(Y) dB / SSIM(Y)",
                            ["method", "PSNR", "SSIM", "PSNR vs bicubic"],
                            [["bicubic", *bic, ""]]
                            + [[label(n), *v, f"{v[0] - bic[0]:+.2f}"] for n, v in got.items()]))
            sweep_pairs = sr_pairs([p for s in ("set5", "set14") for p in images(natural / s)], "bicubic")
            measure = lambda o: run_sr(model, sweep_pairs, o)  # noqa: E731
            unit = "PSNR(Y) / SSIM(Y), Set5+Set14 bicubic"
        elif spec.task == "inpaint":
            paths = [p for s in ("set5", "set14") + (() if args.quick else ("bsd100",)) for p in images(natural / s)]
            cases = inpaint_cases(paths)
            tel = telea(cases)
            got = {n: run_inpaint(model, cases, opts(steps=n)) for n in step_list}
            res["inpaint"] = {"images": len(cases), "telea": tel, **{f"resshift_{n}": v for n, v in got.items()}}
            print(table(f"Inpainting, PSNR inside the mask ({len(cases)} images, 256x256 centre crops)",
                        ["method", "PSNR (mask)", "vs Telea"],
                        [["OpenCV Telea", tel, ""]] + [[label(n), v, f"{v - tel:+.2f}"] for n, v in got.items()]))
            sweep_cases = cases[:19]
            measure = lambda o: (run_inpaint(model, sweep_cases, o),)  # noqa: E731
            unit = "PSNR inside the mask, Set5+Set14"
        else:
            paths = images(args.data / "faces" / "val")[: 8 if args.quick else None]
            cases = face_cases(paths)
            bic = mean([metrics(lq, gt, border=0) for lq, gt in cases])
            got = {n: run_face(model, cases, opts(steps=n)) for n in step_list}
            res["face"] = {"images": len(cases), "bicubic": bic, **{f"resshift_{n}": v for n, v in got.items()}}
            print(table(f"Faces, GFPGAN-style degradation ({len(cases)} images, 512x512), PSNR(Y) / SSIM(Y)",
                        ["method", "PSNR", "SSIM", "PSNR vs input"],
                        [["degraded input (bicubic)", *bic, ""]]
                        + [[label(n), *v, f"{v[0] - bic[0]:+.2f}"] for n, v in got.items()]))
            measure = lambda o: run_face(model, cases[:8], o)  # noqa: E731
            unit = "PSNR(Y) / SSIM(Y), 8 faces"
        if not args.no_sweeps:
            rows = []
            for steps in range(1, T + 1):
                for spacing in (("trailing", "leading") if steps < T else ("trailing",)):
                    rows.append([steps, spacing if steps < T else "(all)", kappa0, *measure(opts(steps=steps, spacing=spacing))])
            for k in KAPPAS:
                if k != kappa0:
                    rows.append([T, "(all)", k, *measure(opts(kappa=k))])
            res["sweep"] = rows
            print(table(f"Steps and kappa ({unit})", ["steps", "spacing", "kappa", *unit.split(",")[0].split(" / ")], rows))
        res["seconds"] = round(time.time() - started, 1)
        results[name] = res
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
