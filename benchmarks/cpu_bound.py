"""What bounds the CPU (not a unit test): this machine's arithmetic rates, the Swin-UNet's time per
tile size, and page faults per restoration.

    python -m benchmarks.cpu_bound [--threads 2]
    RESSHIFT_MALLOC=default python -m benchmarks.cpu_bound   # glibc's allocator defaults

Run from the repository root on a CPU machine (a few minutes on 2 cores; the figures in
benchmarks/RESULTS.md came from a 2-core AMD EPYC with AVX-512 bf16).

Prints:
- seconds and minor page faults per lite-sr 256->1024 restoration (bf16 when the CPU has it),
  with the allocator setting of ``resshift/runtime/malloc.py`` unless RESSHIFT_MALLOC=default;
- GFLOP/s of a 3x3 convolution (128 channels, 256x256, channels_last; the VQ decoder's commonest
  layer) in float32, and of square matrix products in float32 and bf16: the peak rates against
  which one official 64->256 run (1.42 TFLOP) is measured in benchmarks/RESULTS.md;
- the same convolution as Winograd F(4x4,3x3) (4x fewer multiplications): its products alone, the
  whole of it in stock operators, its error against float64, and the memory bandwidth;
- one forward pass of the released Swin-UNet (random weights) per latent size, and peak RSS: how
  the time per pixel grows with the tile (``restore.default_unet_tile``).
"""
from __future__ import annotations

import argparse
import resource
import time

import torch
import torch.nn.functional as F

from resshift.runtime.malloc import tune_malloc


def rate(fn, flop: float, repeat: int = 5) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return flop * repeat / (time.perf_counter() - start) / 1e9


def faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


# Winograd F(4x4, 3x3) (Lavin & Gray 2016): input, filter and output transforms
B_T = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
       [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]
G = [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
     [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]
A_T = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]


def winograd_conv(weight: torch.Tensor):
    """A 3x3 convolution (padding 1) as Winograd F(4x4,3x3) in stock PyTorch operators: the input
    transform as a depthwise 6x6 convolution of stride 4, the 36 products as one grouped 1x1
    convolution, the output transform as a depthwise transposed convolution of stride 4."""
    b, g, a = (torch.tensor(m, dtype=torch.float64) for m in (B_T, G, A_T))
    c_out, c_in = weight.shape[:2]
    cl = torch.channels_last
    u = torch.einsum("ik,ockl,jl->ijoc", g, weight.double(), g).reshape(36 * c_out, c_in, 1, 1).float()
    k_in = torch.einsum("ik,jl->ijkl", b, b).reshape(36, 1, 6, 6).float().repeat(c_in, 1, 1, 1)
    k_out = torch.einsum("ik,jl->klij", a, a).reshape(36, 1, 4, 4).float().repeat(c_out, 1, 1, 1)
    k_in, k_out = k_in.contiguous(memory_format=cl), k_out.contiguous(memory_format=cl)

    def regroup(t, groups):  # channels (g, 36) <-> (36, g), channels_last
        n, _, h, w = t.shape
        t = t.permute(0, 2, 3, 1).reshape(n, h, w, groups, -1).transpose(3, 4)
        return t.reshape(n, h, w, -1).permute(0, 3, 1, 2)

    def conv(x):
        h, w = x.shape[-2:]
        th, tw = -(-h // 4), -(-w // 4)
        v = F.conv2d(F.pad(x, (1, 4 * tw + 1 - w, 1, 4 * th + 1 - h)), k_in, stride=4, groups=c_in)
        m = F.conv2d(regroup(v, c_in), u, groups=36)
        return F.conv_transpose2d(regroup(m, 36), k_out, stride=4, groups=c_out)[..., :h, :w]
    return conv


def winograd(conv: torch.nn.Conv2d, x: torch.Tensor) -> None:
    """Winograd F(4x4,3x3) needs 4x fewer multiplications than a direct 3x3 convolution: 36
    products over tiles of 4x4 output pixels. It pays only if those products run near the
    convolution's rate and the transforms around them are cheap."""
    c, pixels = x.shape[1], x.shape[2] * x.shape[3]
    direct = 2 * c * c * 9 * pixels
    flop = 2 * 36 * c * c * (pixels // 16)
    v = torch.randn(1, 36 * c, pixels // 16, 1).contiguous(memory_format=torch.channels_last)
    u = torch.randn(36 * c, c, 1, 1)
    products = rate(lambda: F.conv2d(v, u, groups=36), flop)
    fast = winograd_conv(conv.weight)
    whole = rate(lambda: fast(x), direct)
    exact = F.conv2d(x.double(), conv.weight.double(), padding=1)
    error = (fast(x).double() - exact).abs().max().item()
    direct_error = (F.conv2d(x, conv.weight, padding=1).double() - exact).abs().max().item()
    print(f"Winograd F(4x4,3x3), float32: its 36 products alone {products:.0f} GFLOP/s "
          f"({flop / products * 1e-6:.0f} ms against {direct / rate(lambda: conv(x), direct) * 1e-6:.0f} ms for "
          f"the direct convolution); with its transforms in stock operators {direct / whole * 1e-6:.0f} ms; "
          f"max error {error:.1e} (direct: {direct_error:.1e})")
    src = torch.randn(2 ** 25)
    dst = torch.empty_like(src)
    print(f"memory copy, 128 MiB: {rate(lambda: dst.copy_(src), 2 * src.numel() * 4):.0f} GB/s read + write")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cpu_bound", description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--sizes", default="64,128,192,256", help="Swin-UNet latent sizes")
    args = p.parse_args(argv)
    tuned = tune_malloc()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, allocator {'tuned' if tuned else 'glibc defaults'}")

    # first, while glibc's thresholds are fresh (they adapt to the large blocks freed later)
    from benchmarks.speed import make_model
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
        winograd(conv, x)

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
