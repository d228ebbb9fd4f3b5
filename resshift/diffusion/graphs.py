"""Whole restorations recorded as CUDA graphs: first-stage encode, every sampling step, decode.

At batch 1 a ResShift restoration is bound by the host launching thousands of small kernels, not by
the GPU (benchmarks/RESULTS.md). A CUDA graph records them once per input shape and schedule and
replays them with one launch (two, in fact: the encoding of the input, then the sampling loop and the
decoding). The randomness stays outside the graphs: the noise is drawn from the caller's
``torch.Generator`` exactly as :func:`sampler.iter_sample` draws it, on the host while the GPU
encodes, and copied into the second graph's input, so a seed gives the same image with and without
graphs.

One :class:`CudaGraphs` belongs to one loaded model. Replays are serialised by a lock (a graph's
inputs and outputs are fixed buffers); each graph keeps its own memory pool, so at most
``capacity`` graphs are kept, least recently used first out.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import torch

from .sampler import (FirstStage, SamplerNoise, StepResult, _draw_all, autocast_context, encode_first_stage,
                      input_noise_shape, sample)
from .schedule import DiffusionConfig, Schedule

log = logging.getLogger(__name__)


@dataclass
class _Recorded:
    encode: Any  # torch.cuda.CUDAGraph: y -> z_y
    sample: Any  # torch.cuda.CUDAGraph: z_y, noise -> out (every step, then decode)
    y: torch.Tensor
    kwargs: dict[str, torch.Tensor]
    noise: torch.Tensor  # (steps + 1, *latent shape): the prior's, then one per step
    out: torch.Tensor
    steps: list[StepResult]
    planes: torch.Tensor | None = None  # the network's input noise planes (RSD), drawn after `noise`


def _shape_key(t: torch.Tensor) -> tuple:
    return tuple(t.shape), t.dtype, tuple(t.stride())


class CudaGraphs:
    """Records and replays :func:`sampler.sample` calls on CUDA; one per loaded model."""

    def __init__(self, capacity: int = 4):
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self.capacity = capacity
        self._graphs: OrderedDict[tuple, _Recorded] = OrderedDict()
        self._lock = threading.Lock()
        self.captures = 0  # how many graphs were recorded (for tests and logs)

    def __len__(self) -> int:
        return len(self._graphs)

    def sample(
        self,
        model: Callable[..., torch.Tensor],
        y: torch.Tensor,
        schedule: Schedule,
        config: DiffusionConfig,
        *,
        first_stage: FirstStage | None,
        model_kwargs: Mapping[str, torch.Tensor],
        generator: torch.Generator | None,
        precision: str,
        callback: Callable[[StepResult], None] | None = None,
        shared_noise: bool = False,
    ) -> torch.Tensor:
        """As :func:`sampler.sample` (same arguments, same result for the same generator state),
        replayed from a graph recorded on the first call with these shapes and this schedule.
        ``callback`` receives every step after the replay; ``shared_noise`` as in
        :func:`sampler.iter_sample` (one noise field copied into every batch element)."""
        if y.device.type != "cuda":
            raise ValueError(f"CUDA graphs need CUDA tensors, got {y.device}")
        key = (id(model), id(first_stage), _shape_key(y),
               tuple(sorted((k, _shape_key(v)) for k, v in model_kwargs.items())),
               tuple(schedule.timesteps), float(schedule.kappa), config, precision)
        with self._lock:
            rec = self._graphs.get(key)
            if rec is None:
                rec = self._record(model, y, schedule, config, first_stage, model_kwargs, precision)
                self._graphs[key] = rec
                while len(self._graphs) > self.capacity:
                    self._graphs.popitem(last=False)
            else:
                self._graphs.move_to_end(key)
            with torch.inference_mode():
                rec.y.copy_(y)
                for name, value in model_kwargs.items():
                    rec.kwargs[name].copy_(value)
                rec.encode.replay()
                # drawn on the host while the GPU encodes
                rec.noise.copy_(_draw_all(rec.noise.shape[1:], rec.noise.shape[0], generator, y.device,
                                          shared=shared_noise))
                if rec.planes is not None:
                    rec.planes.copy_(_draw_all(rec.planes.shape, 1, generator, y.device, shared=shared_noise)[0])
                rec.sample.replay()
                out = rec.out.clone()
                steps = [StepResult(s.index, s.total, s.t, s.x_t.clone(), s.x0_pred.clone())
                         for s in rec.steps] if callback is not None else []
        for step in steps:
            callback(step)  # type: ignore[misc]
        return out

    def _record(self, model, y, schedule, config, first_stage, model_kwargs, precision) -> _Recorded:
        """Two graphs sharing one memory pool, replayed in the order recorded: the encoding of y, then
        the sampling loop and the decoding (the noise is copied in between)."""
        with torch.inference_mode():
            static_y = y.clone()
            static_kwargs = {k: v.clone() for k, v in model_kwargs.items()}
            steps: list[StepResult] = []
            planes: torch.Tensor | None = None

            def encode() -> torch.Tensor:
                with autocast_context(y.device, precision):
                    return encode_first_stage(static_y, config, first_stage)

            def run(z_y: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
                steps.clear()
                return sample(model, static_y, schedule, config, first_stage=first_stage,
                              model_kwargs=static_kwargs, noise=SamplerNoise(noise[0], noise[1:], planes), z_y=z_y,
                              precision=precision, callback=steps.append)

            side = torch.cuda.Stream(device=y.device)
            side.wait_stream(torch.cuda.current_stream(y.device))
            # warm-up off the graph: cuDNN/cuBLAS plans, Swin mask caches; twice, so that a compiled
            # network's recompilations (its guards see the caches filled) happen before recording
            with torch.cuda.stream(side):
                for _ in range(2):
                    z_y = encode()
                    noise = torch.zeros((schedule.num_steps + 1, *z_y.shape), device=y.device)
                    shape = input_noise_shape(model, z_y.shape)
                    planes = None if shape is None else torch.zeros(shape, device=y.device)
                    run(z_y, noise)
            torch.cuda.current_stream(y.device).wait_stream(side)
            # thread_local: other threads may keep using the GPU while this one records
            encode_graph, sample_graph = torch.cuda.CUDAGraph(), torch.cuda.CUDAGraph()
            with torch.cuda.graph(encode_graph, capture_error_mode="thread_local"):
                z_y = encode()
            with torch.cuda.graph(sample_graph, pool=encode_graph.pool(), capture_error_mode="thread_local"):
                out = run(z_y, noise)
        self.captures += 1
        log.info("recorded CUDA graphs for input %s, %d steps (%d kept)", tuple(y.shape),
                 schedule.num_steps, len(self._graphs) + 1)
        return _Recorded(encode_graph, sample_graph, static_y, static_kwargs, noise, out, list(steps), planes)
