"""The third audit (issue 25): what one client can do to the others. A request removes only files
its client uploaded; unused uploads fill only their client's share and go after a while; the
upload rate counts the bytes that arrive and believes no forwarded address by default; a client
that goes away stops its run; one client has a share of the queue; a clip's frame rate, a
download's progress and a zip's entries are bounded; refusals say what happened. Loopback servers
only; every wait is on a condition, bounded."""
import socket
import time
from pathlib import Path

import httpx
import numpy as np
from gradio_client import Client, handle_file
from PIL import Image

from studio.cancel import running_sessions
from studio.limits import Limits
from tests.corpus import texture
from tests.helpers import runs_held_until_cancelled, serve_studio, tiny_manager, until


def _image(folder: Path, name: str, seed: int) -> Path:
    path = folder / name
    Image.fromarray(texture(20, 12, seed=seed)).save(path)
    return path


def _upload(base: str, name: str, data: bytes, address: str = "127.0.0.1", headers=None) -> httpx.Response:
    with httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=60) as http:
        return http.post(f"{base}/gradio_api/upload", files={"files": (name, data, "image/png")}, headers=headers)


def _call(base: str, api_name: str, data: list, session: str) -> str:
    """A raw API call in ``session`` (as a page or script that sends server paths would); returns
    the event stream's text."""
    event = httpx.post(f"{base}/gradio_api/call/{api_name}", json={"data": data, "session_hash": session},
                       timeout=60).json()["event_id"]
    return httpx.get(f"{base}/gradio_api/call/{api_name}/{event}", timeout=120).text


def _file(path: str) -> dict:
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


def _paths_in(config, suffix: str) -> list[str]:
    found, stack = [], [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("path"), str) and item["path"].endswith(suffix):
                found.append(item["path"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


# ----------------------------------------------------------------------------- 1. other clients' files
def test_example_and_result_files_survive_other_clients_runs(tmp_path):
    """Running on one example then another in the same session released the first as if it were
    that session's upload (deleted; every later run of it failed). Examples and results are no
    client's uploads: requests use them and never remove them. (Runs on a tiny image make a
    result; the examples are then refused by a small pixel limit, after being read as inputs.)"""
    limits = Limits.from_env("cpu", {"RESSHIFT_MAX_PIXELS_SR": "24x24"})
    with serve_studio(tiny_manager("sr"), limits, temp_dir=tmp_path / "gradio") as demo:
        base = demo.local_url.rstrip("/")
        client = Client(demo.local_url, verbose=False, download_files=False)
        result = client.predict(handle_file(str(_image(tmp_path, "mine.png", 1))), "tiny-sr", 1, 2.0, "1",
                                api_name="/super_resolve")[2]["path"]
        config = httpx.get(base + "/config", timeout=60).json()
        first, second = (_paths_in(config, name)[0] for name in ("crowd_x4_lr.png", "portrait_lr.jpg"))
        settings = ["tiny-sr", 1, 2.0, 1, "bicubic", "auto", "none"]
        for path in (first, second, result, first, result, second):
            assert "This image is" in _call(base, "super_resolve", [_file(path), *settings], "attacker")
        assert Path(first).is_file() and Path(second).is_file() and Path(result).is_file()
        assert httpx.get(f"{base}/gradio_api/file={first}", timeout=60).status_code == 200
        assert httpx.get(f"{base}/gradio_api/file={result}", timeout=60).status_code == 200
        client.close()
        assert until(lambda: demo.studio.inputs.held() == set())  # the client's own upload went
        assert Path(first).is_file() and Path(result).is_file()


def test_a_call_without_a_session_holds_nothing(tmp_path):
    """/gradio_api/call/ without a session_hash runs in a session of its own that never ends: its
    upload is not held (it would stay for the hour and count against its client's share); it is
    left as an unused upload instead."""
    with serve_studio(tiny_manager("sr"), temp_dir=tmp_path / "gradio") as demo:
        base = demo.local_url.rstrip("/")
        (path,) = _upload(base, "x.png", _image(tmp_path, "x.png", 1).read_bytes()).json()
        body = {"data": [_file(path), "tiny-sr", 1, 2.0, 1, "bicubic", "auto", "none"]}
        event = httpx.post(f"{base}/gradio_api/call/super_resolve", json=body, timeout=60).json()["event_id"]
        assert "event: complete" in httpx.get(f"{base}/gradio_api/call/super_resolve/{event}", timeout=120).text
        assert demo.studio.inputs.held() == set() and demo.studio.inputs.sessions() == 0
        assert Path(path).is_file() and len(demo.studio.inputs.uploads) == 1


# ----------------------------------------------------------------------------- 2. unused uploads
def test_unused_uploads_fill_only_their_clients_share(tmp_path):
    """Uploads no request uses, from one address, until refused: that address is told its share
    is full; another address (and the page's uploads) still get in and run."""
    limits = Limits.from_env("cpu", {"RESSHIFT_MAX_TEMP_MB": "2", "RESSHIFT_UPLOADS_PER_MINUTE": "1000"})
    assert limits.client_temp_bytes == 256 << 10
    with serve_studio(tiny_manager("sr"), limits, temp_dir=tmp_path / "gradio") as demo:
        base = demo.local_url.rstrip("/")
        junk = np.random.default_rng(0).integers(0, 256, 60_000, dtype=np.uint8).tobytes()
        statuses = [_upload(base, f"junk{i}.png", junk[i:] + junk[:i]).status_code for i in range(40)]
        assert statuses[:4] == [200] * 4 and statuses[-1] == 507
        refused = _upload(base, "more.png", junk[::-1])
        assert refused.status_code == 507 and refused.text.startswith("This address's share of the server's space")
        assert "RESSHIFT_CLIENT_TEMP_MB" in refused.text
        other = _image(tmp_path, "other.png", 2)
        assert _upload(base, "other.png", other.read_bytes(), address="127.0.0.2").status_code == 200
        client = Client(demo.local_url, verbose=False)  # gradio_client uploads from 127.0.0.1: its share is full
        assert len(demo.studio.inputs.uploads) >= 4
        client.close()


def test_unused_uploads_go_after_their_short_life(tmp_path):
    """An upload that no request holds or queued is removed after RESSHIFT_UNUSED_UPLOAD_S (at the
    next upload), so its client's share frees; a held one stays."""
    limits = Limits.from_env("cpu", {"RESSHIFT_UNUSED_UPLOAD_S": "1", "RESSHIFT_CLIENT_TEMP_MB": "0.2"})
    with serve_studio(tiny_manager("sr"), limits, temp_dir=tmp_path / "gradio") as demo:
        base = demo.local_url.rstrip("/")
        client = Client(demo.local_url, verbose=False)
        image = _image(tmp_path, "kept.png", 3)
        client.predict(handle_file(str(image)), "tiny-sr", 1, 2.0, "1", api_name="/super_resolve")
        (held,) = demo.studio.inputs.held()
        junk = np.random.default_rng(1).integers(0, 256, 150_000, dtype=np.uint8).tobytes()
        first = _upload(base, "junk.png", junk).json()[0]
        assert _upload(base, "junk2.png", junk[::-1]).status_code == 507  # the share is full
        assert until(lambda: _upload(base, "junk2.png", junk[::-1]).status_code == 200, 30)
        assert not Path(first).exists() and Path(held).is_file()
        client.close()


# ----------------------------------------------------------------------------- 3. the upload rate
def _raw_post(port: int, head: str, chunks: list[bytes]) -> str:
    """A hand-written HTTP request (what httpx will not send); returns the status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head.encode())
        try:
            for chunk in chunks:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            sock.sendall(b"0\r\n\r\n")
        except OSError:
            pass  # the server may answer and close before the whole body
        return sock.recv(4096).decode("latin1").split("\r\n", 1)[0]


def test_a_chunked_body_under_a_small_content_length_is_refused(tmp_path):
    """`Content-Length: 100` with `Transfer-Encoding: chunked` was counted as 100 bytes."""
    with serve_studio(tiny_manager("sr"), temp_dir=tmp_path / "gradio") as demo:
        port = int(demo.local_url.rstrip("/").rsplit(":", 1)[1])
        part = (b"--b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"x.png\"\r\n"
                b"Content-Type: image/png\r\n\r\n" + b"\0" * (1 << 20) + b"\r\n--b--\r\n")
        head = ("POST /gradio_api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n"
                "Transfer-Encoding: chunked\r\nContent-Type: multipart/form-data; boundary=b\r\n\r\n")
        status = _raw_post(port, head, [part[i:i + 65536] for i in range(0, len(part), 65536)])
        assert " 200 " not in status and (" 411 " in status or " 400 " in status), status
        assert not list((tmp_path / "gradio").rglob("x.png"))


def test_forwarded_addresses_are_believed_only_from_named_proxies(tmp_path):
    """X-Forwarded-For from 127.0.0.1 picked a fresh address (and a fresh rate) per upload."""
    limits = Limits.from_env("cpu", {"RESSHIFT_UPLOADS_PER_MINUTE": "2"})
    assert limits.trusted_proxies == ()
    with serve_studio(tiny_manager("sr"), limits, temp_dir=tmp_path / "gradio") as demo:
        base = demo.local_url.rstrip("/")
        png = _image(tmp_path, "x.png", 1).read_bytes()
        statuses = [_upload(base, f"{i}.png", png, headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code
                    for i in range(3)]
        assert statuses == [200, 200, 429]
    named = Limits.from_env("cpu", {"RESSHIFT_UPLOADS_PER_MINUTE": "2", "RESSHIFT_TRUSTED_PROXIES": "127.0.0.1"})
    assert named.trusted_proxies == ("127.0.0.1",)
    with serve_studio(tiny_manager("sr"), named, temp_dir=tmp_path / "gradio2") as demo:
        base = demo.local_url.rstrip("/")
        statuses = [_upload(base, f"{i}.png", png, headers={"X-Forwarded-For": f"10.0.0.{i}"}).status_code
                    for i in range(3)]
        assert statuses == [200, 200, 200]  # behind a named proxy each forwarded client has its own rate
    import app

    flagged = app._limits_from(app._parser().parse_args(["--trusted-proxies", "10.1.2.3, 10.9.0.0/16"]), "cpu")
    assert flagged.trusted_proxies == ("10.1.2.3", "10.9.0.0/16")


# ----------------------------------------------------------------------------- 4. a client that goes away
def test_a_closed_clients_run_stops_and_the_next_request_is_served(tmp_path):
    """A client closed while its run holds the worker and another of its requests waits: the run
    stops (as on cancel) within seconds, the waiting one stops as its turn comes, and another
    client's request is served at once. (The gone client's runs wait inside the model until
    cancelled; before, they were never cancelled.)"""
    import threading

    from studio.cancel import CURRENT
    from studio.input_files import current_session

    manager = tiny_manager("sr")
    with serve_studio(manager, temp_dir=tmp_path / "gradio") as demo:
        image = _image(tmp_path, "x.png", 4)
        leaving = Client(demo.local_url, verbose=False)
        inside, entered = threading.Semaphore(0), []

        def hold(module, args):  # only the leaving client's runs wait, until cancelled
            token = CURRENT.get()
            if current_session() == leaving.session_hash and token is not None and not token.cancelled:
                entered.append(token)
                inside.release()
                token.wait(120)

        handle = manager.get("tiny-sr").unet.register_forward_pre_hook(hold)
        try:
            leaving.submit(handle_file(str(image)), "tiny-sr", 4, 2.0, "1", api_name="/super_resolve")
            assert inside.acquire(timeout=120), "the run never reached the model"
            leaving.submit(handle_file(str(image)), "tiny-sr", 4, 2.0, "2", api_name="/super_resolve")
            assert until(lambda: len(demo._queue) == 1), "the second request never queued"
            leaving.close()  # with one run going and one waiting
            assert until(lambda: running_sessions() == 0, 30), "the closed client's run went on"
            other = Client(demo.local_url, verbose=False)
            job = other.submit(handle_file(str(image)), "tiny-sr", 1, 2.0, "1", api_name="/super_resolve")
            assert until(job.done, 60), "the next request waited behind the gone client's"
            assert job.result()[3]["size"] == "80x48"
            assert len(entered) == 1 and entered[0].cancelled  # the waiting one never ran the model
            other.close()
        finally:
            handle.remove()
            for token in entered:
                token.cancel()


# ----------------------------------------------------------------------------- 5. queue, clips, downloads
def test_one_client_cannot_fill_the_queue(tmp_path):
    """18 submissions from one client filled the 16 places. Now a client has its share waiting
    (a quarter of the queue) and is told so; another client still gets a place."""
    limits = Limits.defaults("cpu")
    assert limits.queue_per_client == 4
    manager = tiny_manager("sr")
    with serve_studio(manager, limits, temp_dir=tmp_path / "gradio") as demo:
        base = demo.local_url.rstrip("/")
        image = _image(tmp_path, "x.png", 5)

        def join(address: str) -> httpx.Response:
            with httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=60) as http:
                return http.post(f"{base}/gradio_api/call/super_resolve", json={"data": [None, "tiny-sr", 1, 2.0, 1]})

        with runs_held_until_cancelled(manager.get("tiny-sr")) as inside:
            holder = Client(demo.local_url, verbose=False)
            holder.submit(handle_file(str(image)), "tiny-sr", 1, 2.0, "1", api_name="/super_resolve")
            assert inside.acquire(timeout=120), "the run never reached the model"
            statuses = [join("127.0.0.1").status_code for _ in range(4)]
            refused = join("127.0.0.1")
            other = join("127.0.0.2")
            holder.close()  # its run stops (item 4); the queued ones then fail fast (no image)
        assert statuses == [200] * 4
        assert refused.status_code == 429 and "already has 4 requests waiting" in refused.json()["detail"]
        assert "RESSHIFT_QUEUE_PER_CLIENT" in refused.json()["detail"]
        assert other.status_code == 200
        assert until(lambda: len(demo._queue) == 0, 120)


def test_a_clip_declaring_100000_fps_is_refused_from_its_headers(tmp_path):
    """0.03 s at 100,000 fps is 3,000 frames: refused before any frame is decoded, with a sentence."""
    import pytest

    from resshift.media import InvalidVideoError, probe
    from resshift.pipelines import RestoreOptions
    from studio.handlers import Studio
    from studio.video import VideoRunner
    from tests.media_clips import make_clip

    clip = make_clip(tmp_path / "fast.mp4", n=3000, width=32, height=32, fps=100_000, audio=None)
    with pytest.raises(InvalidVideoError, match=r"fast.mp4 declares 100,000 frames per second; the limit is 120"):
        probe(clip, max_seconds=10, max_pixels=256 * 256, min_side=16, max_fps=120)
    manager = tiny_manager("sr")
    runner = VideoRunner(Studio(manager, Limits.defaults("cpu"), files_root=tmp_path / "out"), env={})
    assert runner.limits.max_frames == 1200
    options = RestoreOptions(seed=1).resolve(manager.spec("tiny-sr"))
    with pytest.raises(InvalidVideoError, match="100,000 frames per second"):
        runner._job(str(clip), "tiny-sr", options, "steady")


def _dripping_mirror():
    """A loopback server that answers every GET with a 10 MB Content-Length and then one byte
    every 0.05 s (at most 2,000), as the audit's slow mirror did."""
    import http.server
    import threading

    stop = threading.Event()

    class Drip(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(10 << 20))
            self.end_headers()
            for _ in range(2000):
                if stop.wait(0.05):
                    return
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:
                    return  # the client gave up

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Drip)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, stop


def test_a_stalled_download_ends_with_a_sentence_and_leaves_no_file(tmp_path, monkeypatch):
    """A mirror dripping a byte at a time held a download (and the worker) as long as it dripped.
    Under 64 KiB in a window (30 s; 1 s here) ends it with a sentence naming the URL; a cancel
    (raised by the progress callback, as the studio's token does) stops it too; nothing is left."""
    import pytest

    from resshift.runtime.progress import Cancelled
    from resshift.weights import WeightsUnavailable, download
    from resshift.weights.registry import WeightFile

    monkeypatch.setattr(download, "STALL_WINDOW_S", 1.0)
    monkeypatch.delenv("RESSHIFT_WEIGHTS_MIRROR", raising=False)
    server, stop = _dripping_mirror()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/slow.safetensors"
        file = WeightFile(filename="slow.safetensors", url=url)
        started = time.monotonic()
        with pytest.raises(WeightsUnavailable, match="made too little progress") as err:
            download.resolve_weight(file, cache_dir=tmp_path / "cache")
        assert time.monotonic() - started < 30 and url in str(err.value)
        assert list((tmp_path / "cache").iterdir()) == []

        calls = []

        def cancelled(done, total):
            calls.append(done)
            if done >= 3:
                raise Cancelled("the request was cancelled")

        with pytest.raises(Cancelled):
            download.resolve_weight(file, cache_dir=tmp_path / "cache", progress=cancelled)
        assert list((tmp_path / "cache").iterdir()) == []
    finally:
        stop.set()
        server.shutdown()


def test_a_download_counts_toward_the_request_time_and_is_cancelled():
    """The request's deadline started after the model was loaded, so a download ran for as long
    as it dripped; now the deadline starts before, and the token is checked at every chunk."""
    import pytest

    from resshift.manager import ModelManager
    from resshift.runtime.progress import CancelToken, RequestTimeout
    from studio.jobs import Job, run_jobs
    from tests.helpers import tiny_spec

    chunks, token = [], CancelToken()

    class Downloading(ModelManager):  # a manager whose model is still downloading, a chunk at a time
        def __init__(self):
            super().__init__([tiny_spec("sr", "slow")], device="cpu", allow_download=False)

        def loaded(self):
            return []

        def get(self, name, progress=None):
            for done in range(1000):
                chunks.append(done)
                if done == 3:
                    token.cancel()  # Stop pressed (or the client gone) during the download
                progress(done, 1000)
            raise AssertionError("the download was never stopped")

    job = Job("sr", "slow", np.zeros((8, 8, 3), np.uint8), _options())
    with pytest.raises(RequestTimeout):
        run_jobs(Downloading(), [job], timeout=1e-9)
    assert len(chunks) == 1
    chunks.clear()
    with pytest.raises(Exception, match="cancelled"):
        run_jobs(Downloading(), [job], cancel=token)
    assert len(chunks) == 4


# ----------------------------------------------------------------------------- 6. skipped zip entries
def test_skipped_zip_entries_count_toward_the_batch_and_are_summed_up(tmp_path, caplog):
    """A zip of 200,000 non-image entries was accepted (an 8.5 MB report, a log line each). Every
    entry counts toward the batch now (20,000 here: refused as a whole, with a sentence); within
    the bound, the report names ten and sums up the rest, and the log has one line."""
    import logging
    import zipfile

    import pytest

    from resshift.pipelines.batch import gather
    from resshift.errors import InvalidRequest
    from resshift.media.archive import SkippedEntry
    from studio.batch import _report
    from studio.jobs import Job

    png = _image(tmp_path, "one.png", 1).read_bytes()
    crowded = tmp_path / "crowded.zip"
    with zipfile.ZipFile(crowded, "w") as zf:
        zf.writestr("one.png", png)
        for i in range(20_000):
            zf.writestr(f"notes/{i}.txt", b"")
    with pytest.raises(InvalidRequest, match=r"crowded.zip: the archive holds 20,001 entries; the limit is 128"):
        gather([crowded], tmp_path, masks=False, max_images=16, max_zip_bytes=1 << 30)

    some = tmp_path / "some.zip"
    with zipfile.ZipFile(some, "w") as zf:
        zf.writestr("one.png", png)
        for i in range(50):
            zf.writestr(f"notes/{i}.txt", b"")
    (scratch := tmp_path / "scratch").mkdir()
    with caplog.at_level(logging.INFO, logger="resshift.media.archive"):
        gathered = gather([some], scratch, masks=False, max_images=16, max_zip_bytes=1 << 30)
    assert len(gathered.items) == 1 and len(gathered.skipped) == 50
    assert [r.getMessage() for r in caplog.records] == ["zip: 50 entries skipped: 50 not an image (.txt)"]
    job = Job("sr", "tiny-sr", np.zeros((8, 8, 3), np.uint8), _options())
    report = _report(1, [(gathered.items[0], None, {})], [], list(gathered.skipped), job, 1.0)
    skipped_lines = report.split("Skipped:")[1].strip().splitlines()
    assert len(skipped_lines) == 11 and skipped_lines[-1] == "- and 40 entries more: 40 not an image (.txt)"
    assert isinstance(gathered.skipped[0], SkippedEntry)


def test_a_batchs_zip_is_extracted_inside_the_capped_temp_folder(tmp_path, monkeypatch):
    """A batch's zip was extracted in the system's temp folder, beside the cap; now it is extracted
    in the studio's folder, which the upload gate measures, and removed after."""
    import io
    import zipfile

    import studio.batch as batch
    from studio.handlers import Studio

    seen = []
    real = batch.gather

    def watching(files, folder, **kwargs):
        seen.append(Path(folder))
        assert Path(folder).is_dir()
        return real(files, folder, **kwargs)

    monkeypatch.setattr(batch, "gather", watching)
    archive = tmp_path / "two.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("a.png", "b.png"):
            buf = io.BytesIO()
            Image.fromarray(texture(16, 12, seed=len(name))).save(buf, "PNG")
            zf.writestr(name, buf.getvalue())
    root = tmp_path / "files"
    studio = Studio(tiny_manager("sr"), Limits.defaults("cpu"), files_root=root)
    gallery = batch.Batches(studio).sr([str(archive)], "tiny-sr", 1, 2.0, 1)[0]
    assert len(gallery) == 2
    (scratch,) = seen
    assert scratch.is_relative_to(root) and not scratch.exists()


def _options():
    from resshift.pipelines import RestoreOptions

    return RestoreOptions(seed=1).resolve(tiny_manager("sr").spec("tiny-sr"))


# ----------------------------------------------------------------------------- 7. messages
def test_a_pickle_that_asks_to_run_code_is_refused_as_such(tmp_path):
    """torch 2.14 words its refusal differently; it was taken for a damaged file ('download it
    again'). It is a file that asks to run code, and says so."""
    import os

    import pytest
    import torch

    from resshift.weights import UnsafeWeightsError
    from resshift.weights.safe_load import load_state_dict

    class Runs:
        def __reduce__(self):
            return (os.system, ("true",))

    path = tmp_path / "evil.pth"
    torch.save({"weight": Runs()}, path)
    with pytest.raises(UnsafeWeightsError) as err:
        load_state_dict(path)
    text = str(err.value)
    assert "asks to run code" in text and "posix.system" in text
    assert "damaged" not in text and "download it again" not in text


def test_the_cli_says_a_pinned_file_on_disk_does_not_match(tmp_path):
    """A junk file under a pinned name in --weights-dir was reported as 'not on disk'."""
    from resshift.catalog import all_models
    from tests.helpers import run_cli

    spec = next(s for s in all_models() if s.unet_weights.size is not None)
    wdir = tmp_path / "weights"
    wdir.mkdir()
    (wdir / spec.unet_weights.filename).write_bytes(b"junk" * 100)
    image = _image(tmp_path, "x.png", 1)
    res = run_cli(spec.task, str(image), "-o", str(tmp_path / "o.png"), "--model", spec.name,
                  "--weights-dir", str(wdir), "--offline", env={"RESSHIFT_VERIFY_WEIGHTS": "1"})  # pins on
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"{spec.unet_weights.filename} (size mismatch for {wdir / spec.unet_weights.filename}: 400 bytes" in res.stderr
    assert "does not match the one this model needs" in res.stderr and "not on disk" not in res.stderr


def test_errors_show_web_clients_file_names_not_server_paths():
    import gradio as gr
    import pytest

    from resshift.weights import WeightsLoadError
    from studio.errors import file_names_only, friendly_errors

    with pytest.raises(gr.Error) as err:
        with friendly_errors("loading"):
            raise WeightsLoadError("/srv/cache/resshift/w.pth: could not read the checkpoint (truncated)")
    assert "/srv" not in err.value.message and "W.pth: could not read" not in err.value.message
    assert "w.pth: could not read the checkpoint" in err.value.message
    assert file_names_only("from http://127.0.0.1:9/a/b.pth, 1/8 and/or (C:\\w\\x.pth)") == \
        "from http://127.0.0.1:9/a/b.pth, 1/8 and/or (x.pth)"


def test_mcp_refusals_give_their_reason(tmp_path):
    """An image URL on this machine, and a body over the MCP transport's 4 MB, were refused with no
    reason; each now comes back as the tool's error, saying why (nothing is fetched)."""
    import asyncio
    import base64

    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    import app

    calls = []
    limits = Limits.defaults("cpu")
    demo = app.build_demo(tiny_manager("sr"), limits=limits, files_root=tmp_path / "files")
    app.serve(demo, limits, host="127.0.0.1", mcp=True)
    try:
        url = demo.local_url.rstrip("/") + "/gradio_api/mcp/"
        big = "data:image/png;base64," + base64.b64encode(np.random.default_rng(0).bytes(4_500_000)).decode()

        async def work(session):
            for image in (demo.local_url + "file=x.png", "http://127.0.0.1:9/x.png", "http://[::1]/x.png", big):
                calls.append(await session.call_tool("super_resolution", {"image": image, "model": "tiny-sr"}))

        async def run():
            async with streamable_http_client(url) as (read, write, _):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    await work(session)

        asyncio.run(run())
    finally:
        demo.close()
    texts = [" ".join(getattr(c, "text", "") for c in result.content) for result in calls]
    assert all(result.isError for result in calls)
    for text, address in zip(texts[:3], ("127.0.0.1", "127.0.0.1", "::1")):
        assert f"points to {address}, an address on this server's own machine or a private network" in text
        assert "fetched nothing" in text
    assert texts[3].startswith("This MCP request is 5.") and "up to 4 MB" in texts[3]
