"""Restore a folder on a Ray cluster: ``python -m resshift sr IN_DIR -o OUT_DIR --ray [ADDRESS]``.

The command line's plan (model, checked options, inputs, output names; ``cli._plan``) runs on Ray
Data instead of in one process: the input paths become a dataset (one row per image), an actor pool
of model replicas restores them (one actor per GPU; CPU actors when the cluster has none), and each
actor writes its results itself, atomically (a temporary file beside the target, then
``os.replace``). Each image goes through the same library call as the single-process CLI
(``pipelines.tasks.restore`` with the same resolved ``RestoreOptions``), so the same seed gives the
same pixels, and the same PNG bytes. One caveat: on a CPU, torch's results depend on its number of
threads (measured on a 320x384 result: 11 of 368,640 values differ between 1 and 2 threads for a
tiny fp32 model, 12 % by up to 4 levels for lite-sr in bf16), so a CPU actor matches the CLI run
with as many threads as the actor has CPUs (``OMP_NUM_THREADS=N python -m resshift ...``); a single
actor per machine, the default, has all of them, as the CLI does.

Without an address a local Ray is started (all this machine's CPUs); with one (``host:6379`` or
``auto``) the driver joins that cluster, whose nodes must have the project installed and see the
input and output folders at the same paths (a shared file system). Outputs that already exist are
not redone, so a rerun finishes what an interrupted run left. Each result is printed as the CLI
prints it (one JSON line on stdout, ``cli_lines.result_line``); failures are listed at the end on
stderr as the CLI words them (``skipped NAME: reason``), with the same exit status (0 all done, 1
some failed, 2 usage or model errors).

Ray is imported only here; it is an optional dependency (``pip install "ray[data]"``).
"""
from __future__ import annotations

import importlib.util
import json
import logging
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .lines import result_line, skipped_line
from ..settings import ENV_DEVICE, forwarded_env, settings

log = logging.getLogger(__name__)

RAY_MISSING = 'the --ray runner needs Ray, which is not installed: pip install "ray[data]"'


@dataclass(frozen=True)
class ReplicaConfig:
    """What every actor needs to build its model replica (plain, picklable values).

    spec: the model's ``ModelSpec.to_dict()``; custom: True when it came from ``--model-spec`` (it
    then replaces the catalogue's entry of that name, as in the CLI); options: the resolved
    ``RestoreOptions``; photo: ``PhotoOptions`` or None; device: 'cpu' or 'cuda' (inside a GPU
    actor, Ray makes its one GPU ``cuda``); threads: torch's CPU threads (None: torch's default);
    mirror: the ``--weights-mirror`` base URL (None: RESSHIFT_WEIGHTS_MIRROR, passed on by ``_start_ray``);
    max_pixels: inputs over this are refused from their header (None: no limit)."""

    task: str
    spec: dict
    custom: bool
    options: Any
    photo: Any
    device: str
    threads: int | None
    weights_dir: str | None
    offline: bool
    mirror: str | None
    unet_weights: str | None
    first_stage_weights: str | None
    max_pixels: int | None


@dataclass(frozen=True)
class Layout:
    """How many actors, and what each one reserves."""

    actors: int
    cpus: int
    gpus: int

    @property
    def device(self) -> str:
        return "cuda" if self.gpus else "cpu"


def ray_available() -> bool:
    return importlib.util.find_spec("ray") is not None


class Replica:
    """One model replica (a Ray Data actor): loads the model once, then restores the rows it is given.

    A model that cannot be loaded is not raised in ``__init__`` (Ray would retry the actor and then
    report its own error); every row then comes back with ``status='load-error'`` and the sentence,
    which the driver prints as the CLI does."""

    def __init__(self, config: ReplicaConfig) -> None:
        import torch

        from ..runtime.malloc import tune_malloc
        from ..manager import ModelManager
        from ..weights.registry import ModelSpec

        self.config = cfg = config
        started = time.perf_counter()
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        tune_malloc()
        self.pid = os.getpid()
        self.model = self.manager = None
        self.load_error = ""
        try:
            from ..catalog import all_models
            from ..loader import load_model

            spec = ModelSpec.from_dict(cfg.spec)
            specs = list(all_models())
            specs = [s for s in specs if s.name != spec.name] + [spec] if cfg.custom else specs
            self.manager = ModelManager(specs, device=cfg.device, weights_dir=cfg.weights_dir,
                                        allow_download=not cfg.offline, max_loaded=4, mirror=cfg.mirror)
            if cfg.unet_weights or cfg.first_stage_weights:
                self.manager.put(load_model(spec, device=self.manager.device, weights_dir=cfg.weights_dir,
                                            unet_path=cfg.unet_weights, first_stage_path=cfg.first_stage_weights,
                                            allow_download=not cfg.offline, mirror=cfg.mirror))
            self.model = self.manager.get(spec.name)
        except Exception as exc:  # noqa: BLE001 - reported to the driver as the CLI reports it
            self.load_error = f"cannot load model {cfg.spec['name']!r}: {exc}"
        self.load_seconds = time.perf_counter() - started

    def restore_one(self, source: Path, target: Path, mask: Path | None) -> tuple[str, str]:
        """(status, text): ('done', facts JSON) or ('failed', the reason, as the CLI words it)."""
        from ..pipelines.files import restore_file
        from ..pipelines.request import RestoreRequest, execute

        cfg = self.config
        request = RestoreRequest(self.model.spec.task, self.model.spec.name, source, cfg.options, mask=mask,
                                 photo=cfg.photo, max_pixels=cfg.max_pixels)
        outcome = restore_file(source, target, lambda: execute(self.manager, request))
        return ("done", json.dumps(outcome.result.facts())) if outcome.ok else ("failed", outcome.reason)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        statuses, texts = [], []
        for source, target, mask in zip(batch["input"], batch["output"], batch["mask"]):
            if self.load_error:
                status, text = "load-error", self.load_error
            else:
                status, text = self.restore_one(Path(source), Path(target), Path(mask) if mask else None)
            statuses.append(status)
            texts.append(text)
        n = len(statuses)
        return {"input": batch["input"], "output": batch["output"], "status": np.array(statuses),
                "text": np.array(texts), "pid": np.full(n, self.pid), "load_seconds": np.full(n, self.load_seconds)}


def plan_layout(resources: dict, nodes: list[dict], device: str | None, actors: int | None) -> Layout:
    """Actors and resources for a cluster: one actor per GPU when it has GPUs (unless ``device`` is
    cpu), each with one CPU; otherwise CPU actors, one per node by default, each reserving an equal
    share of the CPUs (at most a node's smallest CPU count), which is also its torch thread count.
    ``resources``: ``ray.cluster_resources()``; ``nodes``: ``ray.nodes()``. Raises ValueError when
    a GPU was asked for and the cluster has none."""
    gpus = int(resources.get("GPU", 0))
    wants = (device or settings().device).strip().lower()
    if wants.startswith("cuda") and not gpus:
        raise ValueError(f"--device {wants}: the Ray cluster has no GPUs")
    if gpus and wants != "cpu":
        return Layout(actors=actors or gpus, cpus=1, gpus=1)
    node_cpus = [int(n["Resources"].get("CPU", 0)) for n in nodes if n.get("Alive")]
    node_cpus = [c for c in node_cpus if c > 0] or [max(1, int(resources.get("CPU", 1)))]
    n = actors or len(node_cpus)
    per_actor = max(1, min(min(node_cpus), sum(node_cpus) // n))
    return Layout(actors=n, cpus=per_actor, gpus=0)


def _start_ray(address: str, quiet: bool) -> float:
    """Join the cluster at ``address`` or, when empty, start a local Ray on this machine's CPUs.
    Returns the seconds it took."""
    import ray

    started = time.perf_counter()
    # the library's settings (weights folder, cache, mirror, offline, pins) reach every node's replicas
    env_vars = forwarded_env(leave_out=(ENV_DEVICE,))
    kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": not quiet,
                              "logging_level": logging.WARNING if quiet else logging.INFO,
                              "runtime_env": {"env_vars": env_vars}}
    if address:
        ray.init(address=address, **kwargs)
    else:  # Ray turns token authentication on for a local cluster and warns that it did: not news here
        logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
        ray.init(num_cpus=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
                 **kwargs)
    return time.perf_counter() - started


def run_on_ray(plan, args) -> int:
    """Run a checked CLI plan (``cli._Plan``) on Ray; prints what the CLI prints. Returns the exit
    status (0 all done, 1 some failed, 2 Ray or the model could not be had)."""
    from ..pipelines.files import mask_for
    from ..pipelines import InvalidMaskError

    if not ray_available():
        print(f"error: {RAY_MISSING}", file=sys.stderr)
        return 2
    if args.ray_actors is not None and args.ray_actors < 1:
        print(f"error: --ray-actors must be at least 1, got {args.ray_actors}", file=sys.stderr)
        return 2
    from ..pipelines.registry import TASK_REGISTRY

    failures: list[tuple[str, str]] = []
    rows, kept = [], 0
    for inp, out in zip(plan.inputs, plan.outputs):
        if out.exists():
            kept += 1
            continue
        try:
            mask = mask_for(inp, args.mask) if TASK_REGISTRY[args.task].mask else None
        except InvalidMaskError as exc:
            failures.append((inp.name, str(exc)))
            continue
        rows.append({"input": str(inp.resolve()), "output": str(out.resolve()),
                     "mask": str(mask.resolve()) if mask else ""})
    if kept:
        print(f"{kept} of {len(plan.inputs)} outputs already exist and are kept (delete them to redo them)",
              file=sys.stderr)
    if rows:
        status = _run_rows(plan, args, rows, failures)
        if status is not None:
            return status
    for name, reason in sorted(failures):
        print(skipped_line(name, reason), file=sys.stderr)
    if failures:
        print(f"{len(failures)} of {len(plan.inputs)} inputs failed", file=sys.stderr)
    return 1 if failures else 0


def _abs(path: Path | None) -> str | None:
    return str(path.resolve()) if path else None


def _run_rows(plan, args, rows: list[dict], failures: list[tuple[str, str]]) -> int | None:
    """Restore ``rows`` on Ray, appending (name, reason) to ``failures``; returns an exit status
    when the run cannot go on (Ray or the model unavailable), else None."""
    import ray
    from tqdm import tqdm

    named = {str(inp.resolve()): (inp, out) for inp, out in zip(plan.inputs, plan.outputs)}  # as the CLI names them
    try:
        init_seconds = _start_ray(args.ray, args.quiet)
    except Exception as exc:  # noqa: BLE001 - Ray's own errors, shown in one line
        where = f"join the Ray cluster at {args.ray}" if args.ray else "start a local Ray"
        print(f"error: cannot {where}: {exc}", file=sys.stderr)
        return 2
    try:
        try:
            layout = plan_layout(ray.cluster_resources(), ray.nodes(), args.device, args.ray_actors)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        log.info("Ray %s in %.1f s: %s; %d %s actor(s), %d CPU(s) each", "joined" if args.ray else "started",
                 init_seconds, ray.cluster_resources(), layout.actors, layout.device, layout.cpus)
        config = ReplicaConfig(
            task=args.task, spec=plan.spec.to_dict(), custom=args.model_spec is not None, options=plan.options,
            photo=plan.photo, device=layout.device, threads=None if layout.gpus else layout.cpus,
            weights_dir=_abs(args.weights_dir), offline=args.offline, mirror=args.weights_mirror,
            unet_weights=_abs(args.unet_weights),
            first_stage_weights=_abs(args.first_stage_weights), max_pixels=args.max_pixels or None)
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # one bar below, per image, as the CLI's
        logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)  # (its notice that they are off)
        started = time.perf_counter()
        ds = ray.data.from_items(rows, override_num_blocks=len(rows))
        # max_restarts=0: Ray Data's actors hold their arguments in the object store, from which a
        # restarted actor could not be made again (Ray logs an error line for every such actor); Ray
        # 2.60 has no named parameter for it yet and calls the remote-args one deprecated
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*ray_remote_args.* is deprecated")
            ds = ds.map_batches(Replica, fn_constructor_kwargs={"config": config}, batch_size=1,
                                batch_format="numpy",
                                compute=ray.data.ActorPoolStrategy(size=min(layout.actors, len(rows))),
                                num_cpus=layout.cpus, num_gpus=layout.gpus, max_restarts=0)
        bar = tqdm(total=len(rows), unit="img", disable=args.quiet, file=sys.stderr)
        loads: dict[int, float] = {}
        first_done = None
        for row in ds.iter_rows():
            loads[int(row["pid"])] = float(row["load_seconds"])
            inp, out = named[str(row["input"])]
            name = inp.name
            if row["status"] == "load-error":
                bar.close()
                print(f"error: {row['text']}", file=sys.stderr)
                return 2
            if row["status"] == "done":
                first_done = first_done or time.perf_counter() - started
                tqdm.write(result_line(inp, out, json.loads(str(row["text"]))), file=sys.stdout)
            else:
                failures.append((name, str(row["text"])))
            bar.update(1)
        bar.close()
        seconds = time.perf_counter() - started
        log.info("%d image(s) in %.1f s, restored by %d actor(s) (model loaded in %s s; first result after %.1f s; "
                 "Ray start %.1f s)", len(rows), seconds, len(loads),
                 ", ".join(f"{s:.1f}" for s in sorted(loads.values())), first_done or seconds, init_seconds)
        return None
    finally:
        ray.shutdown()
