"""A burst of clients while the worker is busy (studio/serving.py): 30 gradio_client clients
connect at once (each fetches /config and /gradio_api/info) while a run holds the worker; all
connect, the queue takes what it holds and refuses the rest with Gradio's queue-full message, and
every accepted request is served once the worker is free. Also what ``app.serve`` and ``main``
set up for it."""
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.utils import Status
from PIL import Image

import app
from resshift.manager import ModelManager
from studio import serving
from studio.limits import Limits
from tests.corpus import texture
from tests.helpers import tiny_model

CLIENTS = 30
QUEUE_FULL = "Queue is full! Please try again."


@pytest.fixture
def restored():
    """The process-wide settings ``serve`` and ``tune_process`` change, put back afterwards."""
    interval, threads = sys.getswitchinterval(), torch.get_num_threads()
    analytics = os.environ.get("GRADIO_ANALYTICS_CACHE_FREQUENCY")
    yield
    sys.setswitchinterval(interval)
    torch.set_num_threads(threads)
    if analytics is None:
        os.environ.pop("GRADIO_ANALYTICS_CACHE_FREQUENCY", None)
    else:
        os.environ["GRADIO_ANALYTICS_CACHE_FREQUENCY"] = analytics


@pytest.fixture
def busy_server(restored, tmp_path, monkeypatch):
    """The studio served as ``app.serve`` does; its runs wait for ``release`` while running the tiny
    model over and over (the worker busy with real work: PyTorch and Python)."""
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio"))
    manager = ModelManager([], device="cpu", allow_download=False)
    manager.put(tiny_model("sr"))
    cpu = Limits.defaults("cpu")  # thirty visitors, all from 127.0.0.1: each may take every place
    limits = Limits.from_env("cpu", {"RESSHIFT_QUEUE_PER_CLIENT": str(cpu.queue_size)})
    demo = app.build_demo(manager, limits=limits)
    app.serve(demo, limits, host="127.0.0.1")
    entered, release = threading.Event(), threading.Event()
    real = demo.studio.run_jobs

    def busy(jobs, progress=None):
        entered.set()
        while not release.is_set():
            real(jobs)
        return real(jobs, progress)

    demo.studio.run_jobs = busy
    try:
        yield demo, entered, release
    finally:
        release.set()
        demo.close()


def test_thirty_clients_connect_while_the_worker_is_busy(busy_server, tmp_path):
    demo, entered, release = busy_server
    image = tmp_path / "in.png"
    Image.fromarray(texture(20, 12, seed=4)).save(image)
    args = (handle_file(str(image)), "tiny-sr", 1, 2.0, "7")
    first = Client(demo.local_url, verbose=False, download_files=False)
    running = first.submit(*args, api_name="/super_resolve")
    assert entered.wait(120), "the first run never started"

    def connect(_):
        try:  # gradio_client's own timeouts (5 s per request)
            return Client(demo.local_url, verbose=False, download_files=False)
        except Exception as exc:  # noqa: BLE001 - counted below
            return exc

    with ThreadPoolExecutor(CLIENTS) as pool:
        clients = list(pool.map(connect, range(CLIENTS)))
    failed = [c for c in clients if not isinstance(c, Client)]
    assert not failed, f"{len(failed)} of {CLIENTS} clients could not connect: {failed[:3]}"

    jobs = [c.submit(*args, api_name="/super_resolve") for c in clients]

    def answered(job) -> bool:  # refused (done with the queue's error) or waiting in the queue
        return job.done() or job.status().code in (Status.IN_QUEUE, Status.QUEUE_FULL)

    deadline = threading.Event()
    timer = threading.Timer(300, deadline.set)
    timer.start()
    try:
        while not all(answered(j) for j in jobs):
            assert not deadline.wait(0.1), "some requests were never answered"
    finally:
        timer.cancel()
    refused = [j for j in jobs if j.done()]
    queued = [j for j in jobs if not j.done()]
    assert len(queued) == Limits.defaults("cpu").queue_size and len(refused) == CLIENTS - len(queued)
    for job in refused:
        with pytest.raises(Exception, match=QUEUE_FULL):
            job.result()
    release.set()
    assert running.result(timeout=300)[3]["seed"] == 7
    for job in queued:
        facts = job.result(timeout=300)[3]
        assert facts["size"] == "80x48" and facts["seed"] == 7
    for c in [first, *clients]:
        c.close()


def test_serve_builds_the_api_description_and_switches_threads_often(busy_server):
    demo, _, _ = busy_server
    assert sys.getswitchinterval() == serving.SWITCH_INTERVAL_S
    info = demo.server_app.api_info  # built at start, kept by Gradio for every later client
    assert info and "/super_resolve" in info["named_endpoints"]


def test_main_leaves_a_core_to_the_connections(restored, monkeypatch):
    monkeypatch.delenv("GRADIO_ANALYTICS_CACHE_FREQUENCY", raising=False)
    serving.tune_process()
    assert torch.get_num_threads() == max(1, (os.cpu_count() or 1) - 1)
    assert os.environ["GRADIO_ANALYTICS_CACHE_FREQUENCY"] == str(serving.ANALYTICS_EVERY)
    monkeypatch.setenv("GRADIO_ANALYTICS_CACHE_FREQUENCY", "3")
    serving.tune_process()
    assert os.environ["GRADIO_ANALYTICS_CACHE_FREQUENCY"] == "3"  # an operator's setting stays
