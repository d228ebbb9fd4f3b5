"""A studio without a connection knows it without --offline: one short probe of the weights host at
start (and the first download that cannot connect) turns the models to download into "not
available: no connection", says so in the header and the notice, and a run does not try again.
With a connection nothing changes. Against loopback servers and a refused port only."""
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import app
from resshift.manager import ModelManager
from resshift.weights import WeightsUnavailable
from resshift.weights.registry import WeightFile
from studio import models as catalog
from tests.helpers import tiny_spec


def _refused_port() -> int:
    with socket.socket() as s:  # a port nothing listens on: connecting is refused at once
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Counting(BaseHTTPRequestHandler):
    hits: list = []

    def do_GET(self):  # noqa: N802
        _Counting.hits.append(self.path)
        self.send_error(404)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _manager(base: str, tmp_path) -> ModelManager:
    """A manager of one model whose weights would download from ``base`` (nothing on disk)."""
    spec = tiny_spec("sr", name="remote-sr")
    files = {k: WeightFile(f.filename, f"{base}/{f.filename}")
             for k, f in (("unet_weights", spec.unet_weights), ("first_stage_weights", spec.first_stage_weights))}
    from dataclasses import replace

    return ModelManager([replace(spec, official=True, **files)], device="cpu", weights_dir=tmp_path)


def test_the_probe_of_a_refused_port_says_no_connection(tmp_path, monkeypatch):
    monkeypatch.setenv("RESSHIFT_CACHE_DIR", str(tmp_path / "cache"))
    manager = _manager(f"http://127.0.0.1:{_refused_port()}", tmp_path)
    assert "download on first use" in catalog.label(manager, "remote-sr")
    started = time.monotonic()
    manager.probe_in_background(timeout=2.0).join(5)
    assert time.monotonic() - started < 3  # short, and in the background
    assert manager.no_connection == "this machine has no connection to 127.0.0.1" and not manager.can_download
    assert catalog.label(manager, "remote-sr").endswith("· not available: no connection")
    assert "no connection" in app.header(manager) and "--weights-dir" in app.header(manager)
    with pytest.raises(WeightsUnavailable) as err:
        manager.get("remote-sr")
    assert err.value.reason.startswith("it is not on disk and this machine has no connection to 127.0.0.1")


def test_the_first_failed_download_says_it_and_a_click_does_not_retry(tmp_path, monkeypatch):
    monkeypatch.setenv("RESSHIFT_CACHE_DIR", str(tmp_path / "cache"))
    manager = _manager(f"http://127.0.0.1:{_refused_port()}", tmp_path)
    with pytest.raises(WeightsUnavailable, match="could not connect"):
        manager.get("remote-sr")
    assert manager.no_connection and "not available: no connection" in catalog.label(manager, "remote-sr")
    tried = []
    import resshift.weights.download as download

    monkeypatch.setattr(download, "_download", lambda *a, **k: tried.append(a))
    with pytest.raises(WeightsUnavailable, match="no connection"):
        manager.get("remote-sr")
    assert not tried


def test_with_a_connection_nothing_changes(server, tmp_path, monkeypatch):
    monkeypatch.setenv("RESSHIFT_CACHE_DIR", str(tmp_path / "cache"))
    manager = _manager(server, tmp_path)
    assert manager.probe_connection(timeout=2.0) and manager.no_connection is None
    assert "download on first use" in catalog.label(manager, "remote-sr")
    assert "weights downloaded on first use" in app.header(manager)
    assert _Counting.hits == []  # a connect, no request
    with pytest.raises(WeightsUnavailable, match="HTTP 404"):  # an answer is not a lost connection
        manager.get("remote-sr")
    assert manager.no_connection is None


def test_offline_needs_no_probe(tmp_path):
    manager = ModelManager([tiny_spec("sr")], device="cpu", allow_download=False)
    assert manager.probe_connection(timeout=0.1)  # nothing to download: nothing probed
    assert "not available offline" in catalog.label(manager, "tiny-sr")


def test_no_official_model_is_offered_as_download_on_first_use_without_a_connection(tmp_path, monkeypatch):
    """The real catalogue, its downloads pointed at a port where nothing listens (as a machine with
    no connection): after the start-up probe, no model reads 'download on first use'."""
    monkeypatch.setenv("RESSHIFT_CACHE_DIR", str(tmp_path / "cache"))
    manager = app.make_manager("cpu", tmp_path / "none", mirror=f"http://127.0.0.1:{_refused_port()}")
    before = [label for task in ("sr", "inpaint", "face") for label, _ in catalog.choices(manager, task)]
    assert any("download on first use" in label for label in before)
    manager.probe_in_background(timeout=2.0).join(5)
    after = [label for task in ("sr", "inpaint", "face") for label, _ in catalog.choices(manager, task)]
    assert not any("download on first use" in label for label in after)
    assert any(label.startswith("realsr-v3 ") and label.endswith("· not available: no connection") for label in after)
