"""Weight resolution and downloads, against a local HTTP server started by the tests."""
from __future__ import annotations

import hashlib
import http.server
import socket
import threading
from pathlib import Path

import pytest

from resshift.weights import download
from resshift.settings import ENV_CACHE_DIR, ENV_MIRROR, ENV_VERIFY, ENV_WEIGHTS_DIR
from resshift.weights.download import WeightsUnavailable, resolve_weight, weight_status
from resshift.weights.registry import WeightFile

BODY = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4 bytes: more than one read chunk
SHA = hashlib.sha256(BODY).hexdigest()


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple] = {}
    hits: list[str] = []
    user_agents: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.hits.append(self.path)
        self.user_agents.append(self.headers.get("User-Agent", ""))
        kind, *args = self.routes.get(self.path, ("status", 404))
        if kind == "status":
            self.send_error(args[0])
        elif kind == "redirect":
            self.send_response(302)
            self.send_header("Location", args[0])
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:  # "body", data, announced length
            data, length = args
            self.send_response(200)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            self.close_connection = True

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    """A local HTTP server: ``server.routes[path] = ("body", data, length)`` etc."""
    routes: dict[str, tuple] = {}
    handler = type("Handler", (_Handler,), {"routes": routes, "hits": [], "user_agents": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    httpd.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.routes, httpd.hits, httpd.user_agents = routes, handler.hits, handler.user_agents
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No test sees the user's env vars (or the suite's pins-off default) or real assets folder."""
    for name in (ENV_WEIGHTS_DIR, ENV_CACHE_DIR, ENV_MIRROR, ENV_VERIFY):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(download, "assets_dir", lambda: tmp_path / "assets")


def _served(server, path="/w.pth", data=BODY, length=None) -> str:
    server.routes[path] = ("body", data, len(data) if length is None else length)
    return server.base + path


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_verifies_reports_progress_and_caches(server, tmp_path):
    file = WeightFile("w.pth", url=_served(server), sha256=SHA, size=len(BODY))
    calls = []
    got = resolve_weight(file, cache_dir=tmp_path / "cache",
                         progress=lambda done, total: calls.append((done, total)))
    assert got == tmp_path / "cache" / "w.pth"
    assert got.read_bytes() == BODY
    assert calls[0] == (0, len(BODY)) and calls[-1] == (len(BODY), len(BODY))
    assert len(calls) >= 3 and all(a[0] <= b[0] for a, b in zip(calls, calls[1:]))
    assert server.user_agents[0].startswith("resshift-studio/")
    assert weight_status(file, cache_dir=tmp_path / "cache") == "cached"
    assert resolve_weight(file, cache_dir=tmp_path / "cache") == got
    assert server.hits == ["/w.pth"]  # the second resolve used the cache
    assert _files(tmp_path / "cache") == ["w.pth"]


def test_cache_dir_from_env(server, tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_CACHE_DIR, str(tmp_path / "envcache"))
    got = resolve_weight(WeightFile("w.pth", url=_served(server)))
    assert got == tmp_path / "envcache" / "w.pth" and got.read_bytes() == BODY


def test_http_404_names_file_url_and_where_to_put_it(server, tmp_path):
    file = WeightFile("gone.pth", url=server.base + "/gone.pth")
    with pytest.raises(WeightsUnavailable) as info:
        resolve_weight(file, cache_dir=tmp_path / "cache", weights_dir=tmp_path / "w")
    message = str(info.value)
    assert "gone.pth" in message and file.url in message and "HTTP 404" in message
    assert str(tmp_path / "w" / "gone.pth") in message
    assert str(tmp_path / "cache" / "gone.pth") in message
    assert ENV_WEIGHTS_DIR in message and ENV_CACHE_DIR in message
    assert info.value.reason == "HTTP 404 Not Found"
    assert _files(tmp_path / "cache") == []


def test_interrupted_transfer_leaves_no_file(server, tmp_path):
    file = WeightFile("w.pth", url=_served(server, length=2 * len(BODY)))
    expected = rf"interrupted after {len(BODY)} of {2 * len(BODY)} bytes"
    with pytest.raises(WeightsUnavailable, match=expected):
        resolve_weight(file, cache_dir=tmp_path / "cache")
    assert _files(tmp_path / "cache") == []  # neither the final name nor a temp file


def test_size_mismatch_against_registry(server, tmp_path):
    file = WeightFile("w.pth", url=_served(server), size=len(BODY) + 1)
    with pytest.raises(WeightsUnavailable, match=rf"size mismatch: downloaded {len(BODY)} bytes"):
        resolve_weight(file, cache_dir=tmp_path / "cache")
    assert _files(tmp_path / "cache") == []


def test_sha256_mismatch(server, tmp_path):
    file = WeightFile("w.pth", url=_served(server), sha256="0" * 64)
    with pytest.raises(WeightsUnavailable, match=f"SHA-256 mismatch: downloaded {SHA}"):
        resolve_weight(file, cache_dir=tmp_path / "cache")
    assert _files(tmp_path / "cache") == []


def test_redirect_is_followed(server, tmp_path):
    _served(server, "/assets/real.bin")
    server.routes["/release/w.pth"] = ("redirect", server.base + "/assets/real.bin")
    file = WeightFile("w.pth", url=server.base + "/release/w.pth", sha256=SHA)
    assert resolve_weight(file, cache_dir=tmp_path / "cache").read_bytes() == BODY
    assert server.hits == ["/release/w.pth", "/assets/real.bin"]


def test_corrupt_cache_is_refetched_or_reported(server, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "w.pth").write_bytes(b"x" * len(BODY))  # right size, wrong content
    file = WeightFile("w.pth", url=_served(server), sha256=SHA)
    with pytest.raises(WeightsUnavailable, match="SHA-256 mismatch for"):
        resolve_weight(file, cache_dir=cache, allow_download=False)
    assert server.hits == [] and (cache / "w.pth").read_bytes() == b"x" * len(BODY)
    assert resolve_weight(file, cache_dir=cache).read_bytes() == BODY
    assert server.hits == ["/w.pth"]
    (cache / "w.pth").write_bytes(b"short")  # wrong size: seen by weight_status without hashing
    sized = WeightFile("w.pth", url=file.url, size=len(BODY))
    assert weight_status(sized, cache_dir=cache) == "downloadable"


def test_offline_and_downloads_disabled(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    file = WeightFile("w.pth", url=f"http://127.0.0.1:{port}/w.pth")
    with pytest.raises(WeightsUnavailable, match=r"could not connect \(offline\?\)") as info:
        resolve_weight(file, cache_dir=tmp_path / "cache", timeout=5)
    assert "w.pth" in str(info.value) and file.url in str(info.value)
    with pytest.raises(WeightsUnavailable, match="downloads are off"):
        resolve_weight(file, cache_dir=tmp_path / "cache", allow_download=False)
    assert weight_status(file, cache_dir=tmp_path / "cache") == "downloadable"


def test_resolution_order(server, tmp_path, monkeypatch):
    url = _served(server)
    file = WeightFile("w.pth", url=url, bundled="models/w.pth")
    places = {
        "explicit": tmp_path / "mine.pth",
        "local": tmp_path / "weights" / "w.pth",
        "bundled": tmp_path / "assets" / "models" / "w.pth",
        "cached": tmp_path / "cache" / "w.pth",
    }
    for place in places.values():
        place.parent.mkdir(parents=True, exist_ok=True)
        place.write_bytes(BODY)
    kwargs = dict(weights_dir=tmp_path / "weights", cache_dir=tmp_path / "cache")
    assert resolve_weight(file, path=places["explicit"], **kwargs) == places["explicit"]
    for status in ("local", "bundled", "cached"):
        assert weight_status(file, **kwargs) == status
        assert resolve_weight(file, **kwargs) == places[status]
        places[status].unlink()
    assert weight_status(file, **kwargs) == "downloadable"
    monkeypatch.setenv(ENV_WEIGHTS_DIR, str(tmp_path / "weights"))
    places["local"].write_bytes(BODY)
    assert resolve_weight(file, cache_dir=tmp_path / "cache") == places["local"]
    assert server.hits == []


def test_bundled_only_file_missing_is_reported(tmp_path):
    (tmp_path / "assets").mkdir()  # an assets/ folder without the file
    file = WeightFile("lite.safetensors", bundled="lite/lite.safetensors")
    assert weight_status(file, cache_dir=tmp_path / "cache") == "missing"
    with pytest.raises(WeightsUnavailable, match="not bundled at .*has no download URL") as err:
        resolve_weight(file, cache_dir=tmp_path / "cache")
    assert "pip install -e ." not in str(err.value)  # the folder is there: a clone
    with pytest.raises(WeightsUnavailable, match="the given path .* does not exist"):
        resolve_weight(file, path=tmp_path / "nope.pth")


def test_install_without_assets_says_how_to_install(tmp_path, monkeypatch):
    """A non-editable install copies the package without assets/: the message says what to do."""
    file = WeightFile("lite.safetensors", bundled="lite/lite.safetensors")
    with pytest.raises(WeightsUnavailable, match=r"installed without the repository's assets/ folder: "
                       r"install it from a clone with `pip install -e \.`"):
        resolve_weight(file, cache_dir=tmp_path / "cache")


def test_mismatching_file_in_weights_dir_is_refused(tmp_path):
    (tmp_path / "w.pth").write_bytes(b"abc")
    file = WeightFile("w.pth", url="http://127.0.0.1:9/w.pth", size=4)
    with pytest.raises(WeightsUnavailable, match="size mismatch for .*3 bytes, expected 4"):
        resolve_weight(file, weights_dir=tmp_path, cache_dir=tmp_path / "cache")


def test_concurrent_resolves_download_once(server, tmp_path):
    file = WeightFile("w.pth", url=_served(server), sha256=SHA)
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(
        resolve_weight(file, cache_dir=tmp_path / "cache"))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [tmp_path / "cache" / "w.pth"] * 3
    assert server.hits == ["/w.pth"]
    assert (tmp_path / "cache" / "w.pth").read_bytes() == BODY
    assert _files(tmp_path / "cache") == ["w.pth"]


def test_a_model_missing_both_files_names_both_at_once(tmp_path, monkeypatch):
    """Offline, a model whose Swin-UNet and autoencoder are both absent is refused with one error
    that names both files (a person puts both in place, not one and then the other); with the
    autoencoder in the weights folder, only the Swin-UNet's file is named."""
    from resshift.catalog import find_model
    from resshift.loader import load_model, resolve_files

    monkeypatch.setenv("RESSHIFT_CACHE_DIR", str(tmp_path / "cache"))
    spec = find_model("realsr-v3")
    weights = tmp_path / "weights"
    weights.mkdir()
    for call in (resolve_files, load_model):
        with pytest.raises(WeightsUnavailable) as info:
            call(spec, weights_dir=weights, allow_download=False)
        assert info.value.filename == "resshift_realsrx4_s4_v3.pth" and info.value.also == ("autoencoder_vq_f4.pth",)
        assert "downloads are off (offline: --offline" in str(info.value)
        assert str(info.value).endswith("The model also needs autoencoder_vq_f4.pth, which is not on this machine "
                                        "either.")
    monkeypatch.setenv("RESSHIFT_VERIFY_WEIGHTS", "0")  # pinned sizes off: a stand-in file counts
    (weights / "autoencoder_vq_f4.pth").write_bytes(b"present")
    with pytest.raises(WeightsUnavailable) as info:
        resolve_files(spec, weights_dir=weights, allow_download=False)
    assert info.value.also == () and "also needs" not in str(info.value)
