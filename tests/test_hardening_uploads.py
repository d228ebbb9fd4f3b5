"""Uploads are bounded (studio/upload_gate.py): a per-client rate and a cap on Gradio's temp folder,
each refused with an HTTP status and a sentence; and a request's input files are removed once no
session can send them again (studio/input_files.py), files shared by content hash included."""
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from studio.limits import Limits
from studio.upload_gate import UploadGate, folder_bytes
from tests.corpus import texture
from tests.helpers import serve_studio, tiny_manager, until


def serve(limits: Limits, temp_dir: Path):
    return serve_studio(tiny_manager("sr"), limits, temp_dir=temp_dir)


def _image(folder: Path, name: str, seed: int) -> Path:
    path = folder / name
    Image.fromarray(texture(20, 12, seed=seed)).save(path)
    return path


def _upload(base: str, name: str, data: bytes, address: str = "127.0.0.1") -> httpx.Response:
    with httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=60) as http:
        return http.post(f"{base}/gradio_api/upload", files={"files": (name, data, "image/png")})


def _sr(client, path):
    return client.predict(handle_file(str(path)), "tiny-sr", 1, 2.0, "1", api_name="/super_resolve")


# ----------------------------------------------------------------------------- input files
def test_input_files_go_when_no_session_can_send_them_again(tmp_path):
    temp = tmp_path / "gradio"
    with serve(Limits.defaults("cpu"), temp) as demo:
        inputs = demo.studio.inputs
        a, b = _image(tmp_path, "a.png", 1), _image(tmp_path, "b.png", 2)
        first, second = Client(demo.local_url, verbose=False), Client(demo.local_url, verbose=False)
        try:
            assert _sr(first, a)[3]["size"] == "80x48"
            (held_a,) = inputs.held()
            assert Path(held_a).is_file() and Path(held_a).is_relative_to(temp.resolve())
            # the same session sends another input: the first is removed at once
            _sr(first, b)
            (held_b,) = inputs.held()
            assert not Path(held_a).exists() and Path(held_b).is_file()
            # the same upload sent again (as the page does for Run, then Compare) still runs
            base = demo.local_url.rstrip("/")
            assert _sr(first, b)[3]["size"] == "80x48" and Path(held_b).is_file()
            # another session sends the same bytes under the same name: one shared file
            _sr(second, b)
            assert inputs.held() == {held_b}
            first.close()
            assert until(lambda: inputs.sessions() == 1)  # the first session ended
            assert Path(held_b).is_file()  # the second still holds it
        finally:
            second.close()
        assert until(lambda: not Path(held_b).exists()), "the last session's file was not removed"
        assert inputs.held() == set()
        assert httpx.get(base + "/gradio_api/info", timeout=60).status_code == 200


def test_inpainting_inputs_are_held_and_removed_too(tmp_path):
    """The editor's uploaded files (background, layers) and the mask upload of an inpainting
    request are held like the other inputs and go with the session."""
    temp = tmp_path / "gradio"
    with serve_studio(tiny_manager("inpaint"), temp_dir=temp) as demo:
        background = _image(tmp_path, "photo.png", 6)
        layer = np.zeros((12, 20, 4), np.uint8)
        layer[3:8, 5:12] = (255, 45, 85, 178)
        Image.fromarray(layer).save(tmp_path / "stroke.png")
        mask = np.zeros((12, 20), np.uint8)
        mask[0:3, 0:4] = 255
        Image.fromarray(mask).save(tmp_path / "mask.png")
        client = Client(demo.local_url, verbose=False)
        editor = {"background": handle_file(str(background)), "layers": [handle_file(str(tmp_path / "stroke.png"))],
                  "composite": None}
        facts = client.predict(editor, handle_file(str(tmp_path / "mask.png")), "tiny-inpaint", 1, 2.0, "1",
                               api_name="/inpaint")[3]
        assert facts["size"] == "20x12"
        held = demo.studio.inputs.held()
        assert {Path(p).name for p in held} == {"photo.png", "stroke.png", "mask.png"}
        client.close()
        assert until(lambda: not any(Path(p).exists() for p in held))


def test_a_failed_request_releases_its_file_too(tmp_path):
    """A request that fails on its input (an undecodable file) holds it like any other, and it
    goes when the session does."""
    with serve(Limits.defaults("cpu"), tmp_path / "gradio") as demo:
        bad = tmp_path / "bad.png"
        bad.write_bytes(b"not an image at all")
        client = Client(demo.local_url, verbose=False)
        with pytest.raises(Exception, match="not an image this server can read"):
            _sr(client, bad)
        (held,) = demo.studio.inputs.held()
        client.close()
        assert until(lambda: not Path(held).exists())


def test_a_file_uploaded_again_by_another_client_is_not_removed_under_it(tmp_path):
    """Content-addressed uploads: while one session ends, another client has just uploaded the
    same bytes under the same name (its request has not run yet). The ending session leaves the
    new upload alone, and the other client's request reads it."""
    with serve(Limits.defaults("cpu"), tmp_path / "gradio") as demo:
        base = demo.local_url.rstrip("/")
        image = _image(tmp_path, "shared.png", 5)
        first = Client(demo.local_url, verbose=False)
        _sr(first, image)
        (held,) = demo.studio.inputs.held()
        again = _upload(base, "shared.png", image.read_bytes())  # another client, before its request
        assert again.status_code == 200 and again.json() == [held]
        first.close()
        assert until(lambda: demo.studio.inputs.sessions() == 0)
        assert Path(held).is_file()
        second = Client(demo.local_url, verbose=False)
        assert _sr(second, image)[3]["size"] == "80x48"
        second.close()
        assert until(lambda: not Path(held).exists())


# ----------------------------------------------------------------------------- the gate
def test_an_upload_over_the_client_rate_is_refused_with_429(tmp_path):
    limits = Limits.from_env("cpu", {"RESSHIFT_UPLOADS_PER_MINUTE": "3"})
    with serve(limits, tmp_path / "gradio") as demo:
        base = demo.local_url.rstrip("/")
        png = (tmp_path / "x.png")
        Image.fromarray(texture(8, 8)).save(png)
        for i in range(3):
            assert _upload(base, f"{i}.png", png.read_bytes()).status_code == 200
        refused = _upload(base, "3.png", png.read_bytes())
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert refused.text.startswith("Too many uploads from this address: this server takes up to 3 uploads")
        assert "RESSHIFT_UPLOADS_PER_MINUTE" in refused.text
        # another client (address) is not affected, and pages still load for everyone
        assert _upload(base, "4.png", png.read_bytes(), address="127.0.0.2").status_code == 200
        assert httpx.get(base + "/", timeout=60).status_code == 200


def test_a_full_temp_folder_refuses_uploads_with_507(tmp_path):
    """Filling the cap with uploads that no request uses: the next upload is refused with a
    sentence, the folder stays under the cap, the rest of the server works, and uploads are taken
    again once space is freed."""
    temp = tmp_path / "gradio"
    limits = Limits.from_env("cpu", {"RESSHIFT_MAX_TEMP_MB": "1", "RESSHIFT_UPLOADS_PER_MINUTE": "1000",
                                     "RESSHIFT_CLIENT_TEMP_MB": "1"})  # one client may fill it all here
    with serve(limits, temp) as demo:
        base = demo.local_url.rstrip("/")
        client = Client(demo.local_url, verbose=False)
        assert _sr(client, _image(tmp_path, "good.png", 3))[3]["size"] == "80x48"  # a normal request
        junk = np.random.default_rng(0).integers(0, 256, 200_000, dtype=np.uint8).tobytes()
        statuses = [_upload(base, f"junk{i}.png", junk[i:] + junk[:i]).status_code for i in range(8)]
        assert 200 in statuses and statuses[-1] == 507
        refused = _upload(base, "more.png", junk[::-1])
        assert refused.status_code == 507
        assert refused.text.startswith("The server's space for uploads is full (") and "of 1 MB in use" in refused.text
        assert "RESSHIFT_MAX_TEMP_MB" in refused.text
        assert folder_bytes(temp) <= 1 << 20
        assert httpx.get(base + "/gradio_api/info", timeout=60).status_code == 200
        for path in temp.glob("*/junk*.png"):  # what Gradio's cache cleaning does after an hour
            path.unlink()
        assert until(lambda: _upload(base, "again.png", junk[:1000]).status_code == 200)
        client.close()


def test_an_upload_without_its_size_is_refused_with_411(tmp_path):
    with serve(Limits.defaults("cpu"), tmp_path / "gradio") as demo:
        body = (b"x" * 100 for _ in range(3))  # a generator: sent chunked, without Content-Length
        r = httpx.post(demo.local_url.rstrip("/") + "/gradio_api/upload", content=body,
                       headers={"content-type": "multipart/form-data; boundary=b"}, timeout=60)
        assert r.status_code == 411 and "does not state its size" in r.text


def test_the_gate_counts_a_sliding_minute(tmp_path):
    """The rate is per client over the last 60 s (a fake clock: no waiting)."""
    now = [1000.0]
    limits = Limits.from_env("cpu", {"RESSHIFT_UPLOADS_PER_MINUTE": "2", "RESSHIFT_UPLOAD_MB_PER_MINUTE": "1"})
    gate = UploadGate(None, limits, folder=lambda: str(tmp_path), clock=lambda: now[0])

    def scope(client: str, size: int) -> dict:
        return {"type": "http", "method": "POST", "path": "/gradio_api/upload", "client": (client, 1),
                "headers": [(b"content-length", str(size).encode())]}

    assert gate.check(scope("a", 10)) is None and gate.check(scope("a", 10)) is None
    assert gate.check(scope("a", 10))[0] == 429
    assert gate.check(scope("b", 10)) is None  # another client
    now[0] += 59.9
    assert gate.check(scope("a", 10))[0] == 429
    now[0] += 0.2  # the first two are a minute old
    assert gate.check(scope("a", 10)) is None
    status, text, _ = gate.check(scope("c", 2 << 20))  # bytes count too
    assert status == 429 and "1 MB a minute" in text


def test_a_batch_leaves_the_pages_input_in_place(tmp_path):
    """A batch's images (unpacked in its own folder) are not the session's input: running a batch
    after a single run keeps the single run's upload, and the next run on it is served."""
    with serve(Limits.defaults("cpu"), tmp_path / "gradio") as demo:
        image = _image(tmp_path, "page.png", 3)
        client = Client(demo.local_url, verbose=False)
        _sr(client, image)
        (held,) = demo.studio.inputs.held()
        batch = [handle_file(str(_image(tmp_path, f"{n}.png", seed))) for n, seed in (("a", 4), ("b", 5))]
        client.predict(batch, "tiny-sr", 1, 2.0, 1, "auto", "none", api_name="/batch_sr")
        assert Path(held).is_file() and held in demo.studio.inputs.held()
        assert _sr(client, image)[3]["size"] == "80x48"
        client.close()
