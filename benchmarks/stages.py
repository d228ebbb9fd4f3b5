"""Where a restoration's GPU time goes, stage by stage: ``python -m benchmarks.stages --cases sr256``.

Each stage of one restoration (VQ encode, one Swin-UNet step, VQ decode) is recorded as its own
CUDA graph and replayed, so the figures are GPU time without the host's launch overhead (on CPU the
stages run eagerly). Variants of the same model are measured in the same process:

- ``base``: the networks as loaded (autocast casts every weight on every call)
- ``cast``: ``RestorationModel.networks`` (convolution and linear weights kept in half precision)
- ``var_mean_gn``: ``cast`` with the previous group-norm statistics (``var_mean`` of a float32 copy)
- ``compile``: ``RestorationModel.networks(compiled=True)``: the VQ encoder and decoder through
  ``torch.compile`` (compiled in the warm-up, then recorded in the graph like everything else;
  ``compile_s``)
- ``compile_unet``: ``compile`` with the Swin-UNet compiled too

``--micro`` adds kernel-level comparisons: the VQ mid-block attention (65536 tokens, one 512-wide
head) by query chunk size and PyTorch's fused backends, and the group-norm variants' speed and error
against float32. Rows are JSON lines (``--json`` appends them to a file). Not a test.
Run from the repository root on a CUDA machine (``--device cpu`` runs the same stages eagerly).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F

from benchmarks.speed import CASES, _input, make_model
from resshift.diffusion.sampler import autocast_context, decode_first_stage, encode_first_stage
from resshift.models import layers
from resshift.models.vq import _half_attention


def timed(fn: Callable[[], object], device: str, repeat: int = 10) -> float:
    """Median milliseconds of fn(): replayed from a CUDA graph on CUDA, eager on CPU."""
    if not device.startswith("cuda"):
        fn()
        times = []
        for _ in range(max(1, repeat // 3)):
            start = time.perf_counter()
            fn()
            times.append(1000 * (time.perf_counter() - start))
        return statistics.median(times)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        fn()  # warm-up: cuDNN/cuBLAS plans, caches
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    graph.replay()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        graph.replay()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    del graph
    return statistics.median(times)


def var_mean_group_norm(x: torch.Tensor, groups: int, weight: torch.Tensor, bias: torch.Tensor,
                        eps: float) -> torch.Tensor:
    """The previous fast path (variant ``var_mean_gn``): statistics by ``var_mean`` of a float32 copy."""
    b, c, h, w = x.shape
    var, mean = torch.var_mean(x.view(b, groups, c // groups, h, w).float(), dim=(2, 3, 4), correction=0)
    return layers.group_affine(x, mean, var, weight, bias, eps)


@contextlib.contextmanager
def patched_group_norm(fn):
    original = layers.half_group_norm
    layers.half_group_norm = fn
    try:
        yield
    finally:
        layers.half_group_norm = original


def stage_rows(case_name: str, device: str, variants: list[str], repeat: int) -> list[dict]:
    case = CASES[case_name]
    model = make_model(case.model, device)
    precision = "fp16" if device.startswith("cuda") else "fp32"
    y = _input(case, device)
    config = model.spec.diffusion
    rows = []
    for variant in variants:
        if variant == "base":
            unet, first = model.unet, model.first_stage
        elif variant == "compile_unet":
            unet, first = model.networks(precision, compiled=True)
            unet = torch.compile(unet)
        else:
            unet, first = model.networks(precision, compiled=variant == "compile")
        patch = patched_group_norm(var_mean_group_norm) if variant == "var_mean_gn" else contextlib.nullcontext()
        with torch.inference_mode(), autocast_context(torch.device(device), precision), patch:
            z = encode_first_stage(y, config, first)
            cond = unet.condition(lq=y)
            x = torch.randn_like(z)
            t = torch.full((z.shape[0],), 1, device=device, dtype=torch.long)
            row = {"case": case_name, "variant": variant, "device": device, "precision": precision,
                   "latent": list(z.shape)}
            if variant.startswith("compile"):
                start = time.perf_counter()
                decode_first_stage(z, config, first), encode_first_stage(y, config, first), unet(x, t, cond=cond)
                row["compile_s"] = round(time.perf_counter() - start, 1)
            row["encode_ms"] = round(timed(lambda: encode_first_stage(y, config, first), device, repeat), 2)
            row["unet_step_ms"] = round(timed(lambda: unet(x, t, cond=cond), device, repeat), 2)
            row["decode_ms"] = round(timed(lambda: decode_first_stage(z, config, first), device, repeat), 2)
            steps = model.schedule().num_steps
            row["sum_ms"] = round(row["encode_ms"] + steps * row["unet_step_ms"] + row["decode_ms"], 1)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def micro_rows(device: str, tokens: int, repeat: int) -> list[dict]:
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    g = torch.Generator().manual_seed(0)
    rows = []

    def emit(row: dict) -> None:
        rows.append(row)
        print(json.dumps(row), flush=True)

    q, k, v = (torch.randn(1, 1, tokens, 512, generator=g).to(device, dtype) for _ in range(3))
    with torch.inference_mode():
        for chunk in (1024, 2048, 4096, 8192, 16384):
            emit({"micro": "vq_attention", "impl": f"matmul_chunk{chunk}", "tokens": tokens,
                  "ms": round(timed(lambda: _half_attention(q, k, v, chunk), device, repeat), 2)})
        backends = {"sdpa_default": None}
        if device.startswith("cuda"):
            from torch.nn.attention import SDPBackend, sdpa_kernel
            backends.update({"sdpa_cudnn": SDPBackend.CUDNN_ATTENTION, "sdpa_efficient": SDPBackend.EFFICIENT_ATTENTION,
                             "sdpa_flash": SDPBackend.FLASH_ATTENTION})
        for name, backend in backends.items():
            def run(backend=backend):
                if backend is None:
                    return F.scaled_dot_product_attention(q, k, v)
                with sdpa_kernel(backend):
                    return F.scaled_dot_product_attention(q, k, v)
            try:
                emit({"micro": "vq_attention", "impl": name, "tokens": tokens, "ms": round(timed(run, device, repeat), 2)})
            except Exception as exc:  # a backend that does not take a 512-wide head
                emit({"micro": "vq_attention", "impl": name, "tokens": tokens, "error": str(exc).splitlines()[0][:200]})

        for channels, side in ((128, 1024), (256, 512)):
            if not device.startswith("cuda"):
                side //= 8
            w, b = torch.randn(channels, generator=g).to(device), torch.randn(channels, generator=g).to(device)
            for offset in (0.0, 3.0, 30.0):
                base = torch.randn(1, channels, side, side, generator=g) * 2 + offset
                ref = F.group_norm(base.double(), 32, w.cpu().double(), b.cpu().double(), 1e-6)
                x = base.to(device, dtype).to(memory_format=torch.channels_last)
                impls = {"half_group_norm": layers.half_group_norm, "var_mean": var_mean_group_norm,
                         "torch_autocast": lambda x, g_, w_, b_, e: F.group_norm(x.float(), g_, w_, b_, e)}
                for name, fn in impls.items():
                    out = fn(x, 32, w, b, 1e-6)
                    err = (out.double().cpu() - ref).abs().max().item()
                    row = {"micro": "group_norm", "impl": name, "shape": [channels, side, side], "mean/std": offset / 2,
                           "max_err": round(err, 5)}
                    if offset == 0.0:
                        row["ms"] = round(timed(lambda fn=fn: fn(x, 32, w, b, 1e-6), device, repeat), 3)
                    emit(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.stages", description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", default="sr256")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--variants", default="base,cast")
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--micro", action="store_true", help="also the attention and group-norm kernel comparisons")
    p.add_argument("--tokens", type=int, default=65536, help="attention tokens in --micro (65536: a 1024 px output)")
    p.add_argument("--json", help="append rows as JSON lines to this file")
    args = p.parse_args(argv)
    if args.device.startswith("cuda"):
        torch.backends.cudnn.benchmark = True
    rows = []
    if args.micro:
        rows += micro_rows(args.device, args.tokens, args.repeat)
    for name in filter(None, args.cases.split(",")):
        rows += stage_rows(name, args.device, args.variants.split(","), args.repeat)
    if args.json:
        with open(args.json, "a") as f:
            for row in rows:
                f.write(json.dumps({"torch": torch.__version__, "date": time.strftime("%Y-%m-%d"),
                                    "device_name": torch.cuda.get_device_name(0) if args.device.startswith("cuda")
                                    else "cpu", **row}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
