"""Which stage's bf16 costs the accuracy on CPU (not a unit test): the official architecture
(random weights), 64->256, 4 steps, bf16 autocast with some stages kept in float32.

    python -m benchmarks.cpu_precision [--repeat 3]

Prints, per mix, the median seconds of one restoration and the PSNR of its output against the
all-float32 run on the same noise (``benchmarks.speed.psnr``). bf16 stays off for the official models
on CPU unless a mix keeps PSNR >= 45 dB against float32 (the bar for "the same output" used in
benchmarks/RESULTS.md); this shows where the difference comes from. Run from the repository root
on a CPU machine (a few minutes on 2 cores: 8 mixes, each run 1 + --repeat times).
"""
from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from benchmarks.speed import make_model, psnr
from resshift.diffusion.sampler import sample
from resshift.runtime.malloc import tune_malloc


def _float32(fn):
    """``fn`` run outside autocast, on float32 tensors."""
    def call(*args, **kwargs):
        with torch.autocast("cpu", enabled=False):
            args = [a.float() if torch.is_tensor(a) else a for a in args]
            kwargs = {k: v.float() if torch.is_tensor(v) else v for k, v in kwargs.items()}
            return fn(*args, **kwargs)
    return call


class _Mixed:
    """The model's networks with the named stages ('unet', 'encode', 'decode') kept in float32."""

    def __init__(self, model, keep: set[str]):
        self.unet = _float32(model.unet) if "unet" in keep else model.unet
        first = model.first_stage
        self.first_stage = type("FirstStage", (), {
            "encode": staticmethod(_float32(first.encode) if "encode" in keep else first.encode),
            "decode": staticmethod(_float32(first.decode) if "decode" in keep else first.decode),
            "clip_x0": getattr(first, "clip_x0", False)})()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cpu_precision", description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    tune_malloc()
    torch.set_num_threads(2)
    model = make_model("official", "cpu")
    small = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    y = torch.nn.functional.interpolate(small, size=(64, 64), mode="bicubic").clamp(0, 1) * 2 - 1

    def run(nets, precision: str) -> torch.Tensor:
        return sample(nets.unet, y, model.schedule(), model.spec.diffusion, first_stage=nets.first_stage,
                      model_kwargs={"lq": y}, generator=torch.Generator().manual_seed(0), precision=precision)

    reference = run(model, "fp32")
    print(f"torch {torch.__version__}, official architecture (random weights), 64->256, 4 steps, 2 threads")
    print("| float32 stages (the rest bf16) | seconds | PSNR vs all float32 |")
    print("| --- | --- | --- |")
    for keep in ({"unet", "encode", "decode"}, set(), {"encode"}, {"decode"}, {"encode", "decode"}, {"unet"},
                 {"unet", "encode"}, {"unet", "decode"}):
        nets = _Mixed(model, keep)
        precision = "fp32" if len(keep) == 3 else "bf16"
        run(nets, precision)  # warm-up
        times, out = [], None
        for _ in range(args.repeat):
            start = time.perf_counter()
            out = run(nets, precision)
            times.append(time.perf_counter() - start)
        db = psnr(out, reference, clamp=False)  # random weights: the outputs reach far outside [-1, 1]
        difference = "exact" if math.isinf(db) else f"{db:.1f} dB"
        name = ", ".join(sorted(keep)) if len(keep) < 3 else "all (float32)"
        print(f"| {name or 'none (all bf16)'} | {statistics.median(times):.2f} | {difference} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
