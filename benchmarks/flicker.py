"""Flicker of restored videos: steady noise (one noise field for every frame) against fresh noise.

    python -m benchmarks.flicker [--data ../shared/datasets] [--photos 5] [--speeds 0,1,2,4]

Run from the repository root, on any machine (CPU is enough for the bundled lite-sr). For each
photo (the first ``--photos`` of BSD100's validation set) and each pan speed, a clip is made: a
window slides over the photo by ``speed`` pixels per frame at the output's scale (a slow pan:
1 px per frame is a quarter of an input pixel), and every frame is degraded on its own (bicubic
x1/4, Gaussian noise of sigma 4/255 and JPEG quality 80, from a seeded generator per frame). The
clip is restored by ``resshift.pipelines.video.restore_frames`` (the batches and noise of
``restore_video``, without the H.264 coding of the files) with steady and with fresh noise.

Flicker is the mean absolute difference (0-255) between consecutive restored frames after
compensating the known pan: frame k+1 is compared with frame k shifted by the pan, on the region
both show. Printed per speed, averaged over the photos: the flicker of the input (the degraded
frames, bicubic x4), of steady and of fresh noise, the change, and PSNR (RGB) against the
undegraded windows. The unit test (tests/test_video_flicker.py) uses :func:`pan_clip` and
:func:`flicker` on a small clip.
"""
from __future__ import annotations

import argparse
import io
import platform
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from resshift.pipelines.options import RestoreOptions
from resshift.pipelines.video import VideoOptions, restore_frames

ROOT = Path(__file__).resolve().parents[1]
SCALE = 4


def pan_clip(photo: np.ndarray, *, frames: int, size: tuple[int, int], speed: int, sigma: float = 4.0,
             quality: int = 80, seed: int = 0, top: int = 0, left: int = 0
             ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A pan over ``photo`` ((H, W, 3) uint8), degraded frame by frame.

    size: (width, height) of the low-quality frames; speed: how far the window moves right per
    frame, in photo (= output) pixels. Frame k shows the window of SCALE x size at (top, left + k x
    speed), bicubic-downscaled by SCALE, with Gaussian noise of ``sigma`` (0-255) and JPEG at
    ``quality`` drawn for that frame alone (generator seeded by (seed, k)). Returns (low-quality
    frames, the undegraded windows), both lists of uint8 arrays."""
    w, h = size
    need_w, need_h = left + SCALE * w + speed * (frames - 1), top + SCALE * h
    if photo.shape[1] < need_w or photo.shape[0] < need_h:
        raise ValueError(f"the photo is {photo.shape[1]}x{photo.shape[0]}; this pan needs {need_w}x{need_h}")
    low, windows = [], []
    for k in range(frames):
        x = left + k * speed
        window = np.ascontiguousarray(photo[top:top + SCALE * h, x:x + SCALE * w])
        lr = np.asarray(Image.fromarray(window).resize((w, h), Image.BICUBIC), dtype=np.float32)
        rng = np.random.default_rng([seed, k])
        lr = np.clip(lr + rng.normal(0.0, sigma, lr.shape), 0, 255).round().astype(np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(lr).save(buffer, "JPEG", quality=quality)
        low.append(np.asarray(Image.open(buffer).convert("RGB")))
        windows.append(window)
    return low, windows


def flicker(frames: list[np.ndarray], speed: int) -> float:
    """Mean absolute difference (0-255) between consecutive frames, frame k+1 against frame k
    shifted left by ``speed`` pixels (the pan of :func:`pan_clip`), on the columns both show."""
    if len(frames) < 2:
        raise ValueError("flicker needs at least two frames")
    diffs = []
    for before, after in zip(frames, frames[1:]):
        a = before[:, speed:].astype(np.float64)
        b = after[:, :after.shape[1] - speed].astype(np.float64)
        diffs.append(np.abs(b - a).mean())
    return float(np.mean(diffs))


def upscaled(frames: list[np.ndarray]) -> list[np.ndarray]:
    """The low-quality frames, bicubic x SCALE (the input's own flicker at the output's size)."""
    return [np.asarray(Image.fromarray(f).resize((f.shape[1] * SCALE, f.shape[0] * SCALE), Image.BICUBIC))
            for f in frames]


def psnr(frames: list[np.ndarray], windows: list[np.ndarray]) -> float:
    """Mean PSNR (RGB, dB) of restored frames against the undegraded windows."""
    from resshift.runtime.compat import install_torchvision_compat

    install_torchvision_compat()  # before basicsr is imported
    from basicsr.metrics.psnr_ssim import calculate_psnr

    return float(np.mean([calculate_psnr(f, w, crop_border=0, input_order="HWC") for f, w in zip(frames, windows)]))


def restore(model, frames: list[np.ndarray], noise: str, seed: int, batch_size: int) -> list[np.ndarray]:
    """The frames restored by ``model`` with ``noise`` ('steady' or 'fresh'), as restore_video would."""
    video = VideoOptions(noise=noise, batch_size=batch_size)
    return list(restore_frames(model, frames, RestoreOptions(seed=seed), video))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    p.add_argument("--photos", type=int, default=5, help="BSD100 validation photos to pan over")
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--size", type=int, default=64, help="side of the low-quality frames (pixels)")
    p.add_argument("--speeds", default="0,1,2,4", help="pan speeds, output pixels per frame")
    p.add_argument("--model", default="lite-sr")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--batch-size", type=int, default=4)
    args = p.parse_args(argv)
    import resshift

    speeds = [int(s) for s in args.speeds.split(",")]
    folder = args.data / "natural" / "val" / "bsd100"
    paths = sorted(folder.glob("*.png"))[:args.photos]
    if not paths:
        raise SystemExit(f"no photos in {folder}")
    model = resshift.load_model(args.model, device=args.device)
    print(f"# {args.model} on {args.device} ({platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads), torch {torch.__version__}, {time.strftime('%Y-%m-%d')}")
    print(f"# {len(paths)} BSD100 photos, {args.frames} frames of {args.size}x{args.size} -> "
          f"{SCALE * args.size}x{SCALE * args.size}, batches of {args.batch_size}, seed {args.seed}")
    print("| pan (output px/frame) | input (bicubic x4) | steady noise | fresh noise | steady vs fresh "
          "| PSNR steady / fresh (dB) | s/frame |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for speed in speeds:
        rows = {"input": [], "steady": [], "fresh": [], "psnr_steady": [], "psnr_fresh": []}
        seconds, count = 0.0, 0
        for i, path in enumerate(paths):
            photo = np.asarray(Image.open(path).convert("RGB"))
            if photo.shape[0] > photo.shape[1]:  # portrait photos pan along their long side too
                photo = np.ascontiguousarray(photo.transpose(1, 0, 2))
            low, windows = pan_clip(photo, frames=args.frames, size=(args.size, args.size), speed=speed, seed=i)
            rows["input"].append(flicker(upscaled(low), speed))
            for noise in ("steady", "fresh"):
                started = time.perf_counter()
                out = restore(model, low, noise, args.seed, args.batch_size)
                seconds += time.perf_counter() - started
                count += len(out)
                rows[noise].append(flicker(out, speed))
                rows[f"psnr_{noise}"].append(psnr(out, windows))
        m = {k: float(np.mean(v)) for k, v in rows.items()}
        change = 100 * (m["steady"] / m["fresh"] - 1)
        print(f"| {speed} | {m['input']:.2f} | {m['steady']:.2f} | {m['fresh']:.2f} | {change:+.0f} % "
              f"| {m['psnr_steady']:.2f} / {m['psnr_fresh']:.2f} | {seconds / count:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
