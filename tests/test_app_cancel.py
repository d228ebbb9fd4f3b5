"""Cancelling a request through gradio_client stops its run: the run stops at its next sampling
step, writes nothing, and the next request starts only once it has stopped (one run at a time,
however many clients submit and cancel)."""
import threading
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.utils import Status
from PIL import Image

from studio.limits import Limits
from tests.helpers import runs_held_until_cancelled, serve_studio, tiny_manager

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    manager = tiny_manager("sr")
    files = tmp_path_factory.mktemp("files")
    active, peak, lock = [0], [0], threading.Lock()
    with serve_studio(manager, files_root=files) as demo:
        studio = demo.studio
        real = studio.run_jobs

        def counting(jobs, progress=None):  # how many runs are inside the model at once
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            try:
                return real(jobs, progress)
            finally:
                with lock:
                    active[0] -= 1

        studio.run_jobs = counting
        yield Client(demo.local_url, verbose=False), manager.get("tiny-sr"), files, peak, active


@pytest.fixture
def photo(tmp_path) -> str:
    path = tmp_path / "crowd.png"
    Image.open(EXAMPLES / "sr" / "crowd_x4_lr.png").convert("RGB").crop((60, 40, 92, 64)).save(path)
    return str(path)


def test_submit_and_cancel_rounds_run_one_at_a_time_and_write_nothing(served, photo):
    client, model, files, peak, active = served
    with runs_held_until_cancelled(model) as inside:  # each round's run waits inside a step
        for seed in (101, 102, 103):  # three submit-and-cancel rounds, as the audit did
            job = client.submit(handle_file(photo), "tiny-sr", 4, 2.0, seed, api_name="/super_resolve")
            assert inside.acquire(timeout=120), "the run never reached the model"
            job.cancel()
            while not job.done():
                job.status()  # poll until the server has let go of it
            assert job.status().code == Status.CANCELLED
    facts = client.predict(handle_file(photo), "tiny-sr", 2, 2.0, 7, api_name="/super_resolve")[3]
    assert facts["seed"] == 7 and facts["size"] == "128x96"  # the next request is served
    assert peak[0] == 1  # never two runs at once
    written = [p.name for p in files.rglob("*.png")]
    assert not any(f"seed{s}" in n for n in written for s in (101, 102, 103)), written
    assert any("seed7" in n for n in written)
    assert active[0] == 0  # no run left going


def test_a_request_over_the_time_limit_stops_and_writes_nothing(tmp_path, photo):
    limits = Limits.from_env("cpu", {"RESSHIFT_REQUEST_TIMEOUT": "0.000001"})
    with serve_studio(tiny_manager("sr"), limits, files_root=tmp_path / "files") as demo:
        client = Client(demo.local_url, verbose=False)
        with pytest.raises(Exception, match="limit of 0 seconds per request"):
            client.predict(handle_file(photo), "tiny-sr", 3, 2.0, 5, api_name="/super_resolve")
    assert not list((tmp_path / "files").rglob("*.png"))
