"""What bounds the CPU (not a unit test): this machine's arithmetic rates, the Swin-UNet's time per
tile size, and page faults per restoration.

    python benchmarks/cpu_bound.py [--threads 2]
    RESSHIFT_MALLOC=default python benchmarks/cpu_bound.py   # glibc's allocator defaults

Prints:
- seconds and minor page faults per lite-sr 256->1024 restoration (bf16 when the CPU has it),
  with the allocator setting of ``resshift/malloc.py`` unless RESSHIFT_MALLOC=default;
- GFLOP/s of a 3x3 convolution (128 channels, 256x256, channels_last; the VQ decoder's commonest
  layer) in float32, and of square matrix products in float32 and bf16: the peak rates against
  which one official 64->256 run (1.42 TFLOP) is measured in benchmarks/RESULTS.md;
- one forward pass of the released Swin-UNet (random weights) per latent size, and peak RSS: how
  the time per pixel grows with the tile (``restore.default_unet_tile``).
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from resshift.malloc import tune_malloc  # noqa: E402


def rate(fn, flop: float, repeat: int = 5) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return flop * repeat / (time.perf_counter() - start) / 1e9


def faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--sizes", default="64,128,192,256", help="Swin-UNet latent sizes")
    args = p.parse_args(argv)
    tuned = tune_malloc()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, allocator {'tuned' if tuned else 'glibc defaults'}")

    # first, while glibc's thresholds are fresh (they adapt to the large blocks freed later)
    from resshift.bench import make_model
    from resshift.pipelines.options import RestoreOptions
    from resshift.pipelines.restore import run_model
    lite = make_model("lite-sr", "cpu")
    y = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(0)) * 2 - 1
    run_model(lite, y, RestoreOptions(seed=0))
    times, before = [], faults()
    for _ in range(5):
        start = time.perf_counter()
        run_model(lite, y, RestoreOptions(seed=0))
        times.append(time.perf_counter() - start)
    print(f"lite-sr 256->1024 (precision auto): median {sorted(times)[2]:.3f} s, "
          f"{(faults() - before) // 5} page faults per run")
    del lite

    with torch.inference_mode():
        conv = torch.nn.Conv2d(128, 128, 3, padding=1).to(memory_format=torch.channels_last)
        x = torch.randn(1, 128, 256, 256).contiguous(memory_format=torch.channels_last)
        print(f"conv 3x3, 128 ch, 256x256, float32: {rate(lambda: conv(x), 2 * 128 * 128 * 9 * 256 * 256):.0f} GFLOP/s")
        for dtype in (torch.float32, torch.bfloat16):
            for n in (2048, 4096):
                a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
                print(f"matrix product {n}x{n}, {str(dtype)[6:]}: {rate(lambda: a @ b, 2 * n ** 3):.0f} GFLOP/s")

        official = make_model("official", "cpu")
        for size in (int(s) for s in args.sizes.split(",")):
            z = torch.randn(1, 3, size, size).contiguous(memory_format=torch.channels_last)
            lq = torch.randn(1, 3, size, size)
            t = torch.tensor([3])
            official.unet(z, t, lq=lq)
            start = time.perf_counter()
            official.unet(z, t, lq=lq)
            seconds = time.perf_counter() - start
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
            print(f"Swin-UNet forward, latent {size}x{size}: {seconds:.2f} s "
                  f"({seconds / size ** 2 * 1e6:.1f} us per pixel), peak RSS {rss:.2f} GiB")
        del official

    return 0


if __name__ == "__main__":
    raise SystemExit(main())
