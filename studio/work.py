"""Refusing a request whose estimated work is over the server's budget, before any model runs.

The estimate and the budget are :meth:`studio.limits.Limits.check_work` (per model: padding,
tiles and steps); this module says which part of each job is estimated.
"""
from __future__ import annotations

import math

from resshift.manager import ModelManager
from resshift.pipelines import RestoreOptions
from resshift.pipelines.cost import estimate_work
from resshift.pipelines.registry import TASK_REGISTRY, task_of

from studio.jobs import Job
from studio.limits import Limits


def check_jobs(limits: Limits, manager: ModelManager, jobs: list[Job]) -> None:
    """Raise LimitExceeded (a sentence) for the first job over the work budget.

    Super-resolution and inpainting: the whole input at the job's settings. Faces: an aligned
    face is one 512x512 run, always within budget; a whole photo is estimated for its
    super-resolved background (``background='sr'``, the SR model at its own settings), as the
    number of faces is not known before they are found."""
    device_type = manager.device.type
    for job in jobs:
        if job.restorer == "resshift" and TASK_REGISTRY[job.task].whole_input_work:
            limits.check_work(job.task, manager.spec(job.model), job.image.size, job.options, device_type)
        elif job.photo is not None and job.photo.background == "sr" and job.sr_model is not None:
            spec = manager.spec(job.sr_model)
            limits.check_work("sr", spec, job.image.size, RestoreOptions().resolve(spec), device_type)


# ZeroGPU: how long a request asks the GPU for. From the H100 figures on record
# (benchmarks/RESULTS.md, fp16, eager as the studio runs): 64->256 26 ms for 1.42 TFLOP (graphs),
# 128->512 144 ms for 6.5 TFLOP, 256->1024 269 ms for 39.2 TFLOP: 7-22 ms per TFLOP. No GPU was lent
# to measure the studio's own path on ZeroGPU's GPU (an H200 slice), so the constant is over twice
# the slowest of them; the CPU on record does 2.6 s per TFLOP, 120-380 times slower.
GPU_SECONDS_PER_TFLOP = 0.05
GPU_SECONDS_PER_RUN = 3.0  # a run's own cost whatever its size (kernel launches, the host's noise)
GPU_SECONDS_BASE = 15.0  # the request's networks moved to the GPU, cuDNN's first choices
GPU_PHOTO_FACES = 10  # a whole photo is asked time for this many faces (each one 512x512 run)
GPU_SECONDS_MIN, GPU_SECONDS_MAX = 20, 300


def job_tflop(manager: ModelManager, job: Job) -> float:
    """The work of one job in TFLOP (``resshift.pipelines.cost``): SR and inpainting the whole
    input; an aligned face one 512x512 run; a whole photo :data:`GPU_PHOTO_FACES` faces and its
    super-resolved background (GFPGAN's runs: as many faces of ResShift's)."""
    device_type = "cuda"
    if TASK_REGISTRY[job.task].whole_input_work:
        return estimate_work(manager.spec(job.model), job.image.size, job.options, device_type=device_type).flops / 1e12
    face = manager.spec(job.model) if job.model in manager.specs else None
    one = estimate_work(face, (512, 512), RestoreOptions(steps=job.options.steps).resolve(face),
                        device_type=device_type).flops / 1e12 if face is not None and task_of(face).photo else 2.0
    if job.photo is None:
        return one
    work = GPU_PHOTO_FACES * one
    if job.photo.background == "sr" and job.sr_model is not None:
        spec = manager.spec(job.sr_model)
        work += estimate_work(spec, job.image.size, RestoreOptions().resolve(spec), device_type=device_type).flops / 1e12
    return work


def gpu_seconds(manager: ModelManager, jobs: list[Job]) -> int:
    """The ZeroGPU duration to ask for ``jobs``: from their estimated work, so a small request asks
    for little (and is served sooner); at least :data:`GPU_SECONDS_MIN`, at most
    :data:`GPU_SECONDS_MAX` seconds."""
    try:
        work = sum(job_tflop(manager, job) for job in jobs)
    except Exception:  # noqa: BLE001 - an estimate that fails must not stop the run: ask for the most
        return GPU_SECONDS_MAX
    seconds = GPU_SECONDS_BASE + GPU_SECONDS_PER_RUN * len(jobs) + GPU_SECONDS_PER_TFLOP * work
    return int(min(GPU_SECONDS_MAX, max(GPU_SECONDS_MIN, math.ceil(seconds))))
