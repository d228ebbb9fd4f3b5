"""Time the ResShift-lite models on the CPU: parameters, fp16 size and a full 4-step sample.

    python scripts/bench_lite_cpu.py [--repeats 3] [--threads N] [--models lite-sr,lite-face]

Each model is sampled at its target size with random weights (the speed does not depend on the
values): lite-sr 256x256 -> 1024x1024, lite-inpaint 512x512, lite-face 512x512. Prints the
minimum and median wall time over the repeats, in the default and in channels_last layout.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from resshift.diffusion import Schedule, sample  # noqa: E402
from resshift.models import PixelUnshuffleStage, SwinUNet  # noqa: E402
from resshift.weights.lite import LITE_MODELS  # noqa: E402

TARGET_INPUT = {"sr": 256, "inpaint": 512, "face": 512}


def bench(spec, repeats: int, channels_last: bool) -> tuple[float, float]:
    unet = SwinUNet(**spec.unet_params).eval()
    first = PixelUnshuffleStage(**spec.first_stage_params)
    if channels_last:
        unet = unet.to(memory_format=torch.channels_last)
    size = TARGET_INPUT[spec.task]
    g = torch.Generator().manual_seed(0)
    y = torch.rand(1, 3, size, size, generator=g) * 2 - 1
    kwargs = {}
    if spec.task == "inpaint":
        mask = torch.zeros(1, 1, size, size)
        mask[..., size // 4: size // 2, size // 4: size // 2] = 1
        kwargs["model_kwargs"] = {"lq": y, "mask": mask * 2 - 1}
    schedule = Schedule.create(spec.diffusion)
    times = []
    for i in range(repeats + 1):
        t0 = time.perf_counter()
        sample(unet, y, schedule, spec.diffusion, first_stage=first, generator=g, **kwargs)
        if i:  # the first run warms up the allocator and oneDNN
            times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--models", default=",".join(s.name for s in LITE_MODELS))
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    wanted = set(args.models.split(","))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for spec in LITE_MODELS:
        if spec.name not in wanted:
            continue
        unet = SwinUNet(**spec.unet_params)
        n = sum(p.numel() for p in unet.parameters())
        nbytes = sum(t.numel() * (2 if t.is_floating_point() else t.element_size())
                     for t in unet.state_dict().values())
        size = TARGET_INPUT[spec.task]
        out = size * spec.diffusion.sf
        for cl in (False, True):
            best, med = bench(spec, args.repeats, cl)
            print(f"{spec.name}: {n / 1e6:.2f} M params, fp16 {nbytes / 2**20:.2f} MiB, "
                  f"{size}x{size} -> {out}x{out}, 4 steps, {'channels_last' if cl else 'contiguous'}: "
                  f"min {best:.2f} s, median {med:.2f} s", flush=True)


if __name__ == "__main__":
    with torch.inference_mode():
        main()
