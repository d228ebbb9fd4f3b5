"""Fetching the default models' weights in the background (what a GPU studio does at start)."""
import functools
import http.server
import threading

import pytest
from safetensors.torch import save_file

from resshift.manager import ModelManager
from studio.prefetch import Prefetch

from tests.helpers import tiny_model


@pytest.fixture
def mirror(tmp_path):
    folder = tmp_path / "release"
    folder.mkdir()
    model = tiny_model("sr")
    for net, file in ((model.unet, model.spec.unet_weights), (model.first_stage, model.spec.first_stage_weights)):
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(folder / file.filename))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", model.spec
    finally:
        server.shutdown()


def test_a_fetch_downloads_reports_and_leaves_the_model_ready(mirror, tmp_path, monkeypatch):
    url, spec = mirror
    monkeypatch.setenv("RESSHIFT_CACHE_DIR", str(tmp_path / "cache"))
    from resshift.weights.registry import WeightFile
    from dataclasses import replace

    missing = replace(spec, name="missing", unet_weights=WeightFile("missing.safetensors", url="http://x/missing"))
    manager = ModelManager([spec, missing], device="cpu", allow_download=True, mirror=url)
    fetch = Prefetch(manager, [spec.name, "missing"])
    assert [s.state for s in fetch.status()] == ["waiting", "waiting"]
    assert fetch.start().wait(120)
    ready, failed = fetch.status()
    assert ready.state == "ready" and ready.done == ready.total > 0
    assert failed.state == "failed" and "HTTP 404" in failed.error
    assert "could not be fetched (HTTP 404" in failed.describe()
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(f.filename for f in spec.weight_files)
    assert manager.get(spec.name).spec.name == spec.name  # loads from the cache, no download


def test_the_page_shows_the_fetch_and_its_failures(mirror, tmp_path, monkeypatch):
    from studio.notice import notice

    url, spec = mirror
    monkeypatch.setenv("RESSHIFT_CACHE_DIR", str(tmp_path / "cache"))
    manager = ModelManager(device="cpu", allow_download=True, mirror=url)  # the catalogue's models
    fetch = Prefetch(manager, ["realsr-v3"])  # not on the mirror: 404
    assert fetch.start().wait(120)
    text = notice(manager, fetch)
    assert "realsr-v3 could not be fetched (HTTP 404" in text and "small preview models" in text
