"""Load test of the studio: concurrent gradio_client users on 127.0.0.1, each checked by content.

    python -m benchmarks.load_test --clients 8 --minutes 3          # bundled lite models, CPU
    python -m benchmarks.load_test --clients 8 --requests 3 --tiny   # what tests/test_load.py runs

Run from the repository root, on a CPU machine (the studio's CPU limits; --device cuda for a GPU):
the run lasts --minutes, plus the models' start-up.

Every simulated user has its own images (a distinct size per user and task) and seeds, and sends
super-resolution, inpainting (a brush stroke in the editor) and aligned-face requests in turn.
Each answer must be the PNG a direct library call with the same image and seed gives, pixel for
pixel, or Gradio's queue-full refusal (the user retries a second later); anything else counts as
a failure. Printed figures: requests served, rejected, failed, wrong; p50/p95 latency; RSS at baseline, peak and after; the request
files under Gradio's cache after the run and after Gradio's cache cleaning.
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from PIL import Image

TASKS = ("sr", "inpaint", "face")
QUEUE_FULL = "Queue is full! Please try again."
REJECTED_BACKOFF_S = 1.0
FILES_PER_REQUEST = 5  # upload(s), the "before" PNG, the result PNG, the inpainting mask preview


@dataclass(frozen=True, eq=False)
class Plan:
    """One user's input for one task. stroke: the inpainting brush layer (RGBA PNG), mask the
    pixels it covers; expected: what a direct library call returns (uint8, H x W x C)."""

    client: int
    task: str
    model: str
    image: Path
    seed: int
    steps: int
    kappa: float
    stroke: Path | None = None
    mask: np.ndarray | None = None
    expected: np.ndarray | None = None


@dataclass
class Outcome:
    client: int
    task: str
    status: str  # served | rejected | failed | wrong
    seconds: float
    detail: str = ""


@dataclass
class Figures:
    clients: int
    requests: int
    served: int
    rejected: int
    failed: int
    wrong: int
    wall_s: float
    p50_s: float | None
    p95_s: float | None
    rss_baseline_mb: float
    rss_peak_mb: float
    rss_after_mb: float
    request_files_after_run: int
    request_files_after_cleanup: int
    failures: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        lat = "n/a" if self.p50_s is None else f"p50 {self.p50_s:.2f} s, p95 {self.p95_s:.2f} s"
        return [
            f"clients {self.clients}, requests {self.requests} in {self.wall_s:.0f} s",
            f"served {self.served}, rejected (queue full) {self.rejected}, failed {self.failed}, "
            f"wrong result {self.wrong}",
            f"latency {lat}",
            f"RSS baseline {self.rss_baseline_mb:.0f} MB, peak {self.rss_peak_mb:.0f} MB, "
            f"after {self.rss_after_mb:.0f} MB",
            f"request files under Gradio's cache: {self.request_files_after_run} after the run, "
            f"{self.request_files_after_cleanup} after its cache cleaning",
        ]


# ----------------------------------------------------------------------------- measuring
def rss_mb() -> float:
    """This process's resident memory (Linux /proc), MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found in /proc/self/status")


def release_memory() -> None:
    """Collect garbage and hand glibc's free lists back to the system, so RSS shows live memory."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: RSS may stay higher than live memory
        pass


class RssMonitor:
    """Samples RSS every ``interval`` seconds in a thread; ``peak`` is the largest sample."""

    def __init__(self, interval: float = 0.1):
        self.interval, self.peak = interval, rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_mb())

    def __enter__(self) -> "RssMonitor":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


# ----------------------------------------------------------------------------- inputs and expectations
def _texture(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([xx / max(width - 1, 1), yy / max(height - 1, 1),
                     0.5 + 0.5 * np.sin((xx + yy) / (3.0 + seed % 5))], axis=2) * 200 + 20
    return np.clip(base + rng.normal(0, 12, (height, width, 3)), 0, 255).astype(np.uint8)


def make_plans(folder: Path, clients: int, models: dict[str, str], steps: int, kappa: float,
               base_size: int = 16) -> list[list[Plan]]:
    """Per user: an SR, an inpainting and an aligned-face input, each of a size no other user has."""
    plans = []
    for c in range(clients):
        own = folder / f"user{c}"
        own.mkdir(parents=True, exist_ok=True)
        sr_size = (base_size + 4 * c, base_size - 4 + 2 * c)
        Image.fromarray(_texture(*sr_size, seed=100 + c)).save(own / "sr.png")
        inp_size = (2 * base_size + 2 * c, 2 * base_size - 6 + 4 * c)
        Image.fromarray(_texture(*inp_size, seed=200 + c)).save(own / "inpaint.png")
        w, h = inp_size
        mask = np.zeros((h, w), bool)
        mask[h // 4: h // 2 + c % 3, w // 3: w // 3 + 6 + c] = True  # a user-specific stroke
        stroke = np.zeros((h, w, 4), np.uint8)
        stroke[mask] = (255, 45, 85, 178)
        Image.fromarray(stroke).save(own / "stroke.png")
        side = 2 * base_size + 4 * c
        Image.fromarray(_texture(side, side, seed=300 + c)).save(own / "face.png")
        plans.append([
            Plan(c, "sr", models["sr"], own / "sr.png", 1000 + c, steps, kappa),
            Plan(c, "inpaint", models["inpaint"], own / "inpaint.png", 2000 + c, steps, kappa,
                 stroke=own / "stroke.png", mask=mask),
            Plan(c, "face", models["face"], own / "face.png", 3000 + c, steps, kappa),
        ])
    return plans


def with_expectation(manager, plan: Plan) -> Plan:
    """The plan with the image a direct library call gives (the server must return exactly this)."""
    from dataclasses import replace

    from resshift.pipelines import RestoreOptions, inpaint, restore_face, super_resolve

    model = manager.get(plan.model)
    options = RestoreOptions(steps=plan.steps, kappa=plan.kappa, seed=plan.seed)
    if plan.task == "sr":
        out = super_resolve(model, plan.image, options).image
    elif plan.task == "inpaint":
        out = inpaint(model, plan.image, plan.mask, options).image
    else:
        out = restore_face(model, plan.image, options).image
    return replace(plan, expected=out)


# ----------------------------------------------------------------------------- the users
def _call(client, plan: Plan):
    from gradio_client import handle_file

    if plan.task == "sr":
        return client.predict(handle_file(str(plan.image)), plan.model, plan.steps, plan.kappa, plan.seed,
                              api_name="/super_resolve")[2]
    if plan.task == "inpaint":
        editor = {"background": handle_file(str(plan.image)), "layers": [handle_file(str(plan.stroke))],
                  "composite": None}
        return client.predict(editor, None, plan.model, plan.steps, plan.kappa, plan.seed,
                              api_name="/inpaint")[2]
    return client.predict(handle_file(str(plan.image)), "aligned", plan.model, plan.steps, plan.kappa,
                          plan.seed, api_name="/restore_face")[2]


def user(url: str, plans: list[Plan], count: int | None, stop: threading.Event, downloads: Path,
         start: threading.Barrier, outcomes: list[Outcome], lock: threading.Lock) -> None:
    """One simulated user: ``count`` requests (None: until ``stop`` is set), cycling through its
    plans, each answer judged against the plan's expected image."""
    from gradio_client import Client

    downloads.mkdir(parents=True, exist_ok=True)
    client = Client(url, verbose=False, download_files=str(downloads))
    start.wait()
    i = 0
    while (count is None or i < count) and not stop.is_set():
        plan = plans[(i + plans[0].client) % len(plans)]  # users start on different tasks
        i += 1
        t0 = time.perf_counter()
        try:
            png = _call(client, plan)
        except Exception as exc:  # noqa: BLE001 - every outcome is recorded and judged
            status = "rejected" if str(exc) == QUEUE_FULL else "failed"
            outcome = Outcome(plan.client, plan.task, status, time.perf_counter() - t0,
                              f"{type(exc).__name__}: {exc}")
        else:
            seconds = time.perf_counter() - t0
            with Image.open(png) as img:
                got = np.asarray(img)
            same = got.shape == plan.expected.shape and np.array_equal(got, plan.expected)
            detail = "" if same else f"got {got.shape}, expected {plan.expected.shape}"
            outcome = Outcome(plan.client, plan.task, "served" if same else "wrong", seconds, detail)
            Path(png).unlink(missing_ok=True)  # the client's copy; the server's copy stays in its cache
        with lock:
            outcomes.append(outcome)
        if outcome.status == "rejected":
            stop.wait(REJECTED_BACKOFF_S)  # a person retries after a moment, not in a busy loop


# ----------------------------------------------------------------------------- the run
def run_load(manager, models: dict[str, str], *, clients: int = 8, requests: int | None = 3,
             minutes: float | None = None, steps: int = 1, kappa: float = 2.0, limits=None,
             base_size: int = 16, workdir: Path | None = None) -> Figures:
    """Serve the studio over ``manager`` on 127.0.0.1 and run ``clients`` users, each sending
    ``requests`` requests (or for ``minutes``). The server's files go to a fresh Gradio cache."""
    import app
    from gradio.route_utils import delete_files_created_by_app
    from studio.images import prune_request_dirs
    from studio.limits import Limits

    workdir = Path(workdir or tempfile.mkdtemp(prefix="resshift-load-"))
    cache = workdir / "gradio"
    cache.mkdir(parents=True, exist_ok=True)
    plans = make_plans(workdir / "inputs", clients, models, steps, kappa, base_size)
    plans = [[with_expectation(manager, p) for p in per_user] for per_user in plans]
    if limits is None:  # every simulated user is 127.0.0.1: all of them may queue, as distinct users would
        base = Limits.defaults(manager.device.type)
        limits = replace(base, queue_per_client=base.queue_size)
    old_temp = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(cache)  # Gradio's cache: uploads, results (as deployed)
    demo = app.build_demo(manager, limits=limits)
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True, **app.launch_kwargs(limits, demo))
    try:
        warm: list[Outcome] = []  # one request per task first: lazy imports, caches, allocator pools
        user(demo.local_url, plans[0], len(TASKS), threading.Event(), workdir / "downloads" / "warm",
             threading.Barrier(1), warm, threading.Lock())
        release_memory()
        baseline, files_before = rss_mb(), files_under(cache)
        outcomes: list[Outcome] = []
        lock, start, stop = threading.Lock(), threading.Barrier(clients + 1), threading.Event()
        count = requests if minutes is None else None
        threads = [threading.Thread(target=user, args=(
            demo.local_url, plans[c], count, stop, workdir / "downloads" / f"user{c}", start, outcomes, lock),
            daemon=True) for c in range(clients)]
        for t in threads:
            t.start()
        with RssMonitor() as monitor:
            start.wait(120)
            t0 = time.monotonic()
            if minutes is not None:
                stop.wait(60 * minutes)
                stop.set()  # users finish the request in flight, then stop
            for t in threads:
                t.join(timeout=max(60.0, 60 * (minutes or 0)) + 600)
            wall = time.monotonic() - t0
        hung = sum(t.is_alive() for t in threads)
        release_memory()
        after = rss_mb()
        new_files = files_under(cache) - files_before
        request_files = len(new_files)
        delete_files_created_by_app(demo, 0)  # what Gradio's delete_cache schedule runs (age 0: all)
        prune_request_dirs(cache / "resshift", min_age=0)
        left = len(files_under(cache) & new_files)
    finally:
        demo.close()
        if old_temp is None:
            os.environ.pop("GRADIO_TEMP_DIR", None)
        else:
            os.environ["GRADIO_TEMP_DIR"] = old_temp
    bad = [o for o in warm if o.status != "served"] + \
        [Outcome(-1, "?", "failed", 0.0, f"{hung} users still running (hung)")] * bool(hung)
    counts = {s: sum(o.status == s for o in outcomes) for s in ("served", "rejected", "failed", "wrong")}
    latencies = sorted(o.seconds for o in outcomes if o.status == "served")
    pct = (lambda q: float(np.percentile(latencies, q))) if latencies else (lambda q: None)
    return Figures(clients=clients, requests=len(outcomes), **counts, wall_s=wall, p50_s=pct(50), p95_s=pct(95),
                   rss_baseline_mb=baseline, rss_peak_mb=monitor.peak, rss_after_mb=after,
                   request_files_after_run=request_files, request_files_after_cleanup=left,
                   failures=[f"user {o.client} {o.task}: {o.status} {o.detail}" for o in bad + outcomes
                             if o.status in ("failed", "wrong")])


def lite_manager(device: str):
    import app

    manager = app.make_manager(device, offline=True)
    for task in TASKS:
        manager.get(f"lite-{task}")
    return manager, {task: f"lite-{task}" for task in TASKS}


def tiny_manager():
    from resshift.manager import ModelManager
    from tests.helpers import tiny_model

    manager = ModelManager([], device="cpu")
    for task in TASKS:
        manager.put(tiny_model(task))
    return manager, {task: f"tiny-{task}" for task in TASKS}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.load_test", description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=8)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--minutes", type=float, help="run for this long (default 3 minutes)")
    group.add_argument("--requests", type=int, help="requests per user instead of a duration")
    p.add_argument("--tiny", action="store_true", help="tiny random models instead of the bundled lite ones")
    p.add_argument("--steps", type=int, help="sampling steps (default: 1 tiny, 4 lite)")
    p.add_argument("--base-size", type=int, default=None, help="smallest input side (default 16 tiny, 48 lite)")
    p.add_argument("--queue-size", type=int, help="the server's queue bound (default: the CPU default)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    from studio.limits import Limits

    manager, models = tiny_manager() if args.tiny else lite_manager(args.device)
    env = {"RESSHIFT_QUEUE_SIZE": str(args.queue_size)} if args.queue_size else {}
    queue = Limits.from_env(manager.device.type, env).queue_size  # every user is 127.0.0.1: all may queue
    limits = Limits.from_env(manager.device.type, {**env, "RESSHIFT_QUEUE_PER_CLIENT": str(queue)})
    minutes = None if args.requests else (args.minutes or 3.0)
    figures = run_load(manager, models, clients=args.clients, requests=args.requests, minutes=minutes,
                       steps=args.steps or (1 if args.tiny else 4), limits=limits,
                       base_size=args.base_size or (16 if args.tiny else 48))
    print(f"models {', '.join(models.values())} on {manager.device}; torch threads "
          f"{__import__('torch').get_num_threads()}; queue bound {limits.queue_size}")
    for line in figures.lines():
        print(line)
    for failure in figures.failures[:20]:
        print("  " + failure)
    if args.json:
        args.json.write_text(json.dumps(asdict(figures), indent=2))
    return 0 if figures.failed == figures.wrong == 0 and not figures.failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
