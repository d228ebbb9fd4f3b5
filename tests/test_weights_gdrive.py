"""Weight files on Google Drive (RSD's) come through gdown, against a local server that answers as
Drive does: a confirmation page whose form leads to the file, or a quota page, or a web page
instead of the file. Only the host is redirected to loopback (requests' transport); every byte
goes through gdown's own handling of the pages."""
import http.server
import io
import threading
import time
import urllib.parse

import pytest
import requests
import torch
from torch import nn

from resshift.weights import WeightFile, WeightsUnavailable, checkpoint_validator, resolve_weight, weight_status

DRIVE_ID = "1EQbO1Bw2HtGmGad4uk3g2wTFjdH22B2X"
HOSTS = ("drive.google.com", "drive.usercontent.google.com", "docs.google.com")
CONFIRM = (f'<html><body><form id="download-form" action="https://drive.usercontent.google.com/download" '
           f'method="get"><input type="hidden" name="id" value="{DRIVE_ID}"><input type="hidden" name="confirm" '
           f'value="t"><input type="hidden" name="uuid" value="u-1"></form></body></html>')
QUOTA = ('<html><body><p class="uc-error-subcaption">Too many users have viewed or downloaded this file recently. '
         'Please try accessing the file again later.</p></body></html>')


def _weights() -> bytes:
    buffer = io.BytesIO()
    torch.save({"module.weight": torch.ones(2, 3), "module.bias": torch.zeros(2)}, buffer)
    return buffer.getvalue()


class _Drive(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, body: bytes, kind: str, disposition: str | None = None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        if disposition:
            self.send_header("Content-Disposition", f'attachment; filename="{disposition}"')
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        self.server.paths.append(url.path)
        mode = self.server.mode
        if url.path == "/uc" and query.get("id") == [DRIVE_ID]:
            self._send((QUOTA if mode == "quota" else CONFIRM).encode(), "text/html; charset=utf-8")
        elif url.path == "/download" and mode == "drip":  # a byte every 0.2 s (40 s at most), as a stalled link
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(1 << 20))
            self.send_header("Content-Disposition", 'attachment; filename="ema_model_2800.pth"')
            self.end_headers()
            for _ in range(200):
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:  # the client gave up
                    return
                if self.server.stop.wait(0.2):
                    return
        elif url.path == "/download" and query.get("confirm") == ["t"] and query.get("uuid") == ["u-1"]:
            body = b"<!DOCTYPE html><html>sign in</html>" if mode == "html" else self.server.body
            self._send(body, "application/octet-stream", "ema_model_2800.pth")
        else:
            self.send_error(404)


@pytest.fixture
def drive(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Drive)
    server.paths, server.mode, server.body, server.stop = [], "ok", _weights(), threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    real_send = requests.adapters.HTTPAdapter.send
    local = f"http://127.0.0.1:{server.server_port}"

    def send(self, request, **kwargs):  # Drive's hosts, answered on loopback
        parts = urllib.parse.urlsplit(request.url)
        if parts.hostname in HOSTS:
            request.url = local + request.url[len(f"{parts.scheme}://{parts.netloc}"):]
        return real_send(self, request, **kwargs)

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", send)
    try:
        yield server
    finally:
        server.stop.set()
        server.shutdown()


FILE = WeightFile("rsd_ema_model_2800.pth", url=f"https://drive.google.com/uc?id={DRIVE_ID}",
                  aliases=("ema_model_2800.pth",))


def _validate(path):
    checkpoint_validator(nn.Linear(3, 2), name="the test network")(path)


def test_the_confirmation_page_is_followed_and_the_file_checked_then_cached(drive, tmp_path):
    seen = []
    path = resolve_weight(FILE, cache_dir=tmp_path, validate=_validate, progress=lambda d, t: seen.append(d))
    assert path == tmp_path / "rsd_ema_model_2800.pth" and path.read_bytes() == drive.body
    assert drive.paths == ["/uc", "/download"]
    assert seen and seen[-1] == len(drive.body)  # progress reported
    assert [p.name for p in tmp_path.iterdir()] == ["rsd_ema_model_2800.pth"]


def test_the_quota_page_is_said_in_a_sentence_and_nothing_is_saved(drive, tmp_path):
    drive.mode = "quota"
    with pytest.raises(WeightsUnavailable) as err:
        resolve_weight(FILE, cache_dir=tmp_path, validate=_validate)
    message = str(err.value)
    assert "Google Drive did not give the file" in message and "Too many users" in message
    assert "rsd_ema_model_2800.pth" in message and "put it in" in message
    assert not list(tmp_path.iterdir())


def test_a_web_page_instead_of_the_weights_is_said_and_nothing_is_saved(drive, tmp_path):
    drive.mode = "html"
    with pytest.raises(WeightsUnavailable, match="a web page instead of the file"):
        resolve_weight(FILE, cache_dir=tmp_path, validate=_validate)
    assert not list(tmp_path.iterdir())


def test_a_dripping_drive_download_ends_with_a_sentence_and_leaves_no_file(drive, tmp_path, monkeypatch):
    """A Drive transfer bringing under 64 KiB in a window (30 s; 1 s here) is stopped, as every
    download is, though gdown does the reading."""
    from resshift.weights import download

    monkeypatch.setattr(download, "STALL_WINDOW_S", 1.0)
    drive.mode = "drip"
    started = time.monotonic()
    with pytest.raises(WeightsUnavailable, match="made too little progress") as err:
        resolve_weight(FILE, cache_dir=tmp_path, validate=_validate)
    assert time.monotonic() - started < 15 and "rsd_ema_model_2800.pth" in str(err.value)
    assert not list(tmp_path.iterdir())


def test_a_file_of_another_layout_never_enters_the_cache(drive, tmp_path):
    buffer = io.BytesIO()
    torch.save({"weight": torch.ones(5, 5)}, buffer)
    drive.body = buffer.getvalue()
    with pytest.raises(WeightsUnavailable, match="is not a valid rsd_ema_model_2800.pth"):
        resolve_weight(FILE, cache_dir=tmp_path, validate=_validate)
    assert not list(tmp_path.iterdir())


def test_rsds_own_file_name_is_found_in_a_weights_folder_and_the_cache(tmp_path):
    folder, cache = tmp_path / "weights", tmp_path / "cache"
    folder.mkdir(), cache.mkdir()
    assert weight_status(FILE, weights_dir=folder, cache_dir=cache) == "downloadable"
    (cache / "ema_model_2800.pth").write_bytes(_weights())
    assert weight_status(FILE, weights_dir=folder, cache_dir=cache) == "cached"
    assert resolve_weight(FILE, weights_dir=folder, cache_dir=cache, allow_download=False) == cache / "ema_model_2800.pth"
    (folder / "ema_model_2800.pth").write_bytes(_weights())
    assert resolve_weight(FILE, weights_dir=folder, cache_dir=cache, allow_download=False) == folder / "ema_model_2800.pth"


def test_a_mirror_serves_it_under_the_registry_name(tmp_path):
    from resshift.catalog import find_model
    from resshift.weights import download_url

    file = find_model("rsd").unet_weights
    assert file.url == FILE.url and file.aliases == ("ema_model_2800.pth",)
    assert download_url(file, "http://127.0.0.1:9/m/") == "http://127.0.0.1:9/m/rsd_ema_model_2800.pth"
