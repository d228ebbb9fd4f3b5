"""One unit of model work (a "job") and running a list of them with progress, a deadline, a cancel
token and the model cache. No gradio here: the UI edge (studio/handlers.py) turns errors into
messages.

Jobs are plain picklable data (numpy arrays, dataclasses), so on a ZeroGPU Space the list can be
sent to the GPU worker process as is.
"""
from __future__ import annotations

from typing import Callable

from resshift.manager import ModelManager
from resshift.pipelines import CancelToken, ProgressEvent, RestoreResult
from resshift.pipelines.request import GFPGAN_LABEL, RestoreRequest, execute

Report = Callable[[float, str], None]
"""report(fraction in [0, 1], description) - how a run tells the UI how far it is."""

Job = RestoreRequest
"""A job is the library's request (:class:`resshift.pipelines.request.RestoreRequest`): the page,
its API endpoints, MCP tools and batches only build one; ``restorer='gfpgan'`` restores the same
faces with GFPGAN v1.4 for the comparison."""

__all__ = ["GFPGAN_LABEL", "Job", "Report", "run_jobs"]


def run_jobs(manager: ModelManager, jobs: list[Job], report: Report | None = None,
             timeout: float | None = None, cancel: CancelToken | None = None) -> list[RestoreResult]:
    """Run jobs in order, reporting progress per sampling step, tile and photo stage (and per
    downloaded chunk of weights). ``cancel`` (one token for the request; a fresh one when None)
    stops the run at its next step, tile or downloaded chunk; its deadline, ``timeout`` seconds
    in total, starts before the first job's networks are loaded (a download counts). Raises
    resshift.runtime.progress.Cancelled (RequestTimeout for the deadline)."""
    report = report or (lambda fraction, desc: None)
    cancel = cancel or CancelToken()
    cancel.check()
    results = []
    n = len(jobs)
    for j, job in enumerate(jobs):
        prefix = f"{job.label}: " if n > 1 and job.label else ""

        def on_event(event: ProgressEvent, j=j, prefix=prefix) -> None:
            report((j + event.fraction) / n, prefix + event.describe())

        def on_download(done: int, total: int | None, j=j, name=job.model) -> None:
            size = f" of {total / 1e6:.0f} MB" if total else ""
            report(j / n, f"downloading the weights of {name}: {done / 1e6:.0f} MB{size}")

        if job.model not in manager.loaded():
            report(j / n, f"loading model {job.model}")
        # the deadline starts before the networks load: a download counts, and the token stops it
        results.append(execute(manager, job, callback=on_event, cancel=cancel, load_progress=on_download,
                               timeout=timeout))
    return results
