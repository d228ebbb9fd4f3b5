"""Speed and memory benchmark: ``python -m benchmarks.speed [--device cuda] [--cases ...]``.

For each case it prints the median and best latency of a whole restoration (padding, VQ encode,
sampling, VQ decode, tiling), images/s, peak memory (CUDA: max_memory_allocated; CPU: peak RSS of a
fresh process per case) and the output difference (max abs, PSNR in dB on [-1, 1]) against this
project's own float32 eager path on the same noise. Random weights are fine for timing (same compute
as the released checkpoints); the VQ codebook is spread out (randn) so quantisation is well posed.
"""
from __future__ import annotations

import argparse
import gc
import json
import logging
import math
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import torch

from resshift.loader import RestorationModel, build_networks
from resshift.runtime.malloc import tune_malloc
from resshift.pipelines.options import RestoreOptions
from resshift.pipelines.restore import run_model
from resshift.weights.registry import OFFICIAL_MODELS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Case:
    name: str
    model: str  # "official" (realsr-v3 architecture), "sinsr" (the same architecture, one step) or a lite model
    size: int  # input edge in pixels
    batch: int = 1
    tile: int | None = 0  # 0: one tile (no tiling); None: the pipeline's default tiling


CASES = {
    c.name: c for c in (
        Case("sr64", "official", 64),
        Case("sr128", "official", 128),
        Case("sr256", "official", 256),
        Case("sr64_b16", "official", 64, batch=16),
        Case("sr256_tiled", "official", 256, tile=128),  # the CPU's default tile: 3 x 3 tiles
        Case("sr1024_tiled", "official", 1024, tile=256),
        Case("sinsr64", "sinsr", 64),  # one step of the 15 (its default) against realsr-v3's four
        Case("sinsr256_tiled", "sinsr", 256, tile=128),
        Case("lite_sr256", "lite-sr", 256),
        Case("lite_sr1024_tiled", "lite-sr", 1024, tile=None),
    )
}


def _spec(name: str):
    if name == "official":
        return OFFICIAL_MODELS[0]
    from resshift.catalog import find_model

    return find_model(name)


def make_model(name: str, device: str, channels_last: bool = True, bundled: bool = True) -> RestorationModel:
    spec = _spec(name)
    if spec.official or not bundled:
        with torch.random.fork_rng(devices=[]):  # deterministic throwaway weights; global RNG untouched
            torch.manual_seed(0)
            unet, first = build_networks(spec)
            if hasattr(first, "quantize"):
                with torch.no_grad():
                    first.quantize.embedding.weight.normal_()
        model = RestorationModel(spec, unet, first)
    else:
        from resshift.loader import load_model

        model = load_model(spec, allow_download=False)
    return model.to(device, channels_last=channels_last)


def _input(case: Case, device: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    small = torch.rand(case.batch, 3, max(2, case.size // 8), max(2, case.size // 8), generator=g)
    y = torch.nn.functional.interpolate(small, size=(case.size, case.size), mode="bicubic", align_corners=False)
    return (y.clamp(0, 1) * 2 - 1).to(device)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def psnr(a: torch.Tensor, b: torch.Tensor, *, clamp: bool = True) -> float:
    """PSNR in dB between two restorations: tensors of any (equal) shape with values in [-1, 1] (peak
    to peak 2), over all their elements; inf when they are equal. ``clamp``: compare them clamped to
    [-1, 1], as they become pixels (``False``: as they are; random weights reach far outside).

    The project's one PSNR of float tensors, for precision comparisons (fp16/bf16 against float32).
    basicsr's ``calculate_psnr`` takes 0-255 arrays (these differences are finer than 1/255), and
    its ``calculate_psnr_pt`` adds 1e-8 to the mean squared error: on [0, 1] that caps it at 80 dB
    and lowers a 78 dB comparison (the lite models' fp16 against float32) by 2 dB."""
    if clamp:
        a, b = a.clamp(-1, 1), b.clamp(-1, 1)
    mse = ((a.float() - b.float()) ** 2).mean().item()
    return math.inf if mse == 0 else 10 * math.log10(4.0 / mse)


def run_case(case: Case, device: str, precision: str, repeat: int, channels_last: bool, compile: bool,
             compare: bool, bundled: bool = True, cuda_graphs: bool = False, batch_tiles: int = 1) -> dict:
    if device.startswith("cuda"):  # the previous case's memory (graph pools, cached blocks) back first
        gc.collect()
        torch.cuda.empty_cache()
    model = make_model(case.model, device, channels_last, bundled)
    y = _input(case, device)
    options = RestoreOptions(seed=0, tile=case.tile, precision=precision, batch_tiles=batch_tiles,
                             cuda_graphs=cuda_graphs, compile=compile)

    def once() -> torch.Tensor:
        out = run_model(model, y, options).image
        _sync(device)
        return out

    graphed = cuda_graphs and device.startswith("cuda")
    if graphed:  # the graph's memory pool is taken while it is recorded: count the warm-up
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    once()  # warm-up (kernels, caches, compile, graph recording)
    warmup = time.perf_counter() - start
    if device.startswith("cuda") and not graphed:
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = once()
        times.append(time.perf_counter() - start)
    row = {
        "case": case.name, "model": case.model, "device": device, "precision": precision,
        "channels_last": channels_last, "compile": compile and device.startswith("cuda"),
        "cudnn_benchmark": torch.backends.cudnn.benchmark, "cuda_graphs": graphed,
        "batch_tiles": batch_tiles, "input": f"{case.batch}x{case.size}",
        "output": "x".join(str(s) for s in out.shape[-2:]),
        "median_ms": round(1000 * statistics.median(times), 1), "best_ms": round(1000 * min(times), 1),
        "images_per_s": round(case.batch / statistics.median(times), 2), "warmup_s": round(warmup, 2),
    }
    if device.startswith("cuda"):
        row["peak_gib"] = round(torch.cuda.max_memory_allocated() / 2 ** 30, 2)
        row["reserved_gib"] = round(torch.cuda.memory_reserved() / 2 ** 30, 2)
    else:
        row["peak_rss_gib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20, 2)
    if compare and (precision != "fp32" or channels_last or compile or cuda_graphs):
        reference = make_model(case.model, device, channels_last=False, bundled=bundled)
        ref = run_model(reference, y, RestoreOptions(seed=0, tile=case.tile, precision="fp32",
                                                     batch_tiles=batch_tiles)).image
        row["max_abs_vs_fp32"] = round((out.float() - ref.float()).abs().max().item(), 4)
        row["psnr_vs_fp32_db"] = round(psnr(out, ref), 2)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--cases", default="sr64,sr128,sr256,sr64_b16,sr1024_tiled,lite_sr256,lite_sr1024_tiled")
    p.add_argument("--precision", default=None, help="comma list of fp32,fp16,bf16 (default: fp16 on CUDA, fp32 and bf16 on CPU)")
    p.add_argument("--contiguous", action="store_true",
                   help="NCHW memory format instead of the default channels_last")
    p.add_argument("--compile", action="store_true",
                   help="CUDA: torch.compile the VQ autoencoder (RestoreOptions.compile; slow warm-up)")
    p.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN time its convolution algorithms")
    p.add_argument("--cuda-graphs", action="store_true",
                   help="replay each restoration from a recorded CUDA graph (RestoreOptions.cuda_graphs)")
    p.add_argument("--batch-tiles", type=int, default=1, help="tiles per network call in the tiled cases (the app: 1)")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--no-compare", action="store_true", help="skip the float32 reference run")
    p.add_argument("--json", help="append rows as JSON lines to this file")
    p.add_argument("--in-process", action="store_true", help="CPU: do not spawn a process per case")
    p.add_argument("--lite-weights", choices=["bundled", "random"], default="bundled",
                   help="lite cases: the bundled weights, or random ones (same compute)")
    args = p.parse_args(argv)
    tune_malloc()  # as the app and the CLI (RESSHIFT_MALLOC=default: glibc's defaults)
    if args.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    precisions = (args.precision or ("fp16" if args.device.startswith("cuda") else "fp32,bf16")).split(",")
    header = {"torch": torch.__version__, "python": platform.python_version(), "threads": torch.get_num_threads(),
              "device_name": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else platform.processor() or platform.machine(),
              "date": time.strftime("%Y-%m-%d")}
    print(json.dumps(header), flush=True)
    for name in args.cases.split(","):
        for precision in precisions:
            if args.device == "cpu" and not args.in_process:
                cmd = [sys.executable, "-m", "benchmarks.speed", "--device", "cpu", "--cases", name, "--precision",
                       precision, "--repeat", str(args.repeat), "--in-process", "--lite-weights", args.lite_weights,
                       "--batch-tiles", str(args.batch_tiles)] + \
                      (["--contiguous"] if args.contiguous else []) + (["--no-compare"] if args.no_compare else []) + \
                      (["--json", args.json] if args.json else [])
                res = subprocess.run(cmd, capture_output=True, text=True)
                lines = [l for l in res.stdout.splitlines() if l.startswith("{\"case\"")]
                print(lines[-1] if lines else json.dumps({"case": name, "error": res.stderr.strip()[-500:]}), flush=True)
                continue
            try:
                row = run_case(CASES[name], args.device, precision, args.repeat, not args.contiguous, args.compile,
                               not args.no_compare, args.lite_weights == "bundled", args.cuda_graphs,
                               args.batch_tiles)
            except torch.cuda.OutOfMemoryError as exc:
                row = {"case": name, "precision": precision, "error": f"out of memory: {exc}"[:300]}
                torch.cuda.empty_cache()
            except Exception as exc:  # one failing case (e.g. a compile error) must not lose the others
                log.exception("case %s failed", name)
                row = {"case": name, "precision": precision, "error": f"{type(exc).__name__}: {exc}"[:500]}
            print(json.dumps(row), flush=True)
            if args.json:
                with open(args.json, "a") as f:
                    f.write(json.dumps({**header, **row}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
