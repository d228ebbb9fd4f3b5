"""Refusing a request whose estimated work is over the server's budget, before any model runs.

The estimate and the budget are :meth:`studio.limits.Limits.check_work` (per model: padding,
tiles and steps); this module says which part of each job is estimated.
"""
from __future__ import annotations

from resshift.manager import ModelManager
from resshift.pipelines import RestoreOptions
from resshift.pipelines.registry import TASK_REGISTRY

from .jobs import Job
from .limits import Limits


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
