"""The corpus and the failure paths through the real HTTP endpoints (gradio_client on 127.0.0.1,
tiny random models): a correct result or a sentence naming the problem, and after every bad request
the next good one is served. Also: the upload limit, out-of-memory, a full queue, and which files a
client can reach."""
import io
import re
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

import app
from resshift.manager import ModelManager
from resshift.pipelines import decode_image
from studio import errors
from studio.limits import Limits
from tests.corpus import HUGE, IMAGE_NAMES, MASK_NAMES, image_corpus, mask_corpus, texture
from tests.helpers import serve_studio, tiny_model

pytestmark = pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")

UPLOAD_MB = 1
LIMITS = Limits.from_env("cpu", {"RESSHIFT_MAX_UPLOAD_MB": str(UPLOAD_MB)})
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def serve(manager: ModelManager, limits: Limits, temp_dir: Path):
    """The studio as deployed (results in Gradio's cache folder, here ``temp_dir``) on 127.0.0.1."""
    return serve_studio(manager, limits, temp_dir=temp_dir)


@pytest.fixture(scope="module")
def models():
    return {task: tiny_model(task) for task in ("sr", "inpaint", "face")}


@pytest.fixture(scope="module")
def server(models, tmp_path_factory):
    manager = ModelManager([], device="cpu")
    for model in models.values():
        manager.put(model)
    with serve(manager, LIMITS, tmp_path_factory.mktemp("gradio")) as demo:
        yield demo


@pytest.fixture(scope="module")
def client(server, tmp_path_factory):
    return Client(server.local_url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return image_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("good") / "good.png"
    Image.fromarray(texture(20, 12, seed=3)).save(path)
    return path


def sr(client, path, seed=1):
    return client.predict(handle_file(str(path)), "tiny-sr", 1, 2.0, seed, api_name="/super_resolve")


def _served_next(client, good) -> None:
    """The worker is not stuck: a good request right after is served."""
    *_, png, facts = sr(client, good)
    assert facts["size"] == "80x48" and Path(png).read_bytes()[:8] == PNG_MAGIC


def _check_refusal(case, message: str, limit: str) -> None:
    if case.name == "bomb.png":
        assert "too large to open safely (over 179 megapixels)" in message and limit in message
    elif case.name == "big.png":
        # an image over the limit is refused; a whole photo up to 64 megapixels would be fitted
        assert re.search("This (image|photo) is 10000x10000 pixels", message) and limit in message
    else:
        assert re.search(f"(?i){case.error}", message), message
    assert "Traceback" not in message and "upstream Gradio app has raised an exception" not in message


def _fetch(url: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(httpx.get(url).content)))


def _stroke_layer(size: tuple[int, int], folder: Path) -> Path:
    w, h = size
    layer = np.zeros((h, w, 4), np.uint8)
    layer[h // 4: h - h // 4 or 1, w // 4: w - w // 4 or 1] = (255, 45, 85, 178)
    Image.fromarray(layer).save(folder / "stroke.png")
    return folder / "stroke.png"


# ----------------------------------------------------------------------------- the corpus
@pytest.mark.parametrize("name", IMAGE_NAMES)
def test_super_resolve_endpoint(client, corpus, good, name):
    case = corpus[name]
    if not case.readable or name in HUGE:
        with pytest.raises(AppError) as err:
            sr(client, case.path)
        _check_refusal(case, str(err.value), "512x512")
    else:
        (before, after), _, png, facts = sr(client, case.path)
        w, h = case.size
        with Image.open(png) as out:
            assert out.format == "PNG" and out.size == (4 * w, 4 * h)
            assert out.mode == ("RGBA" if case.alpha else "RGB")
        assert Image.open(before).size == (4 * w, 4 * h)
    _served_next(client, good)


@pytest.mark.parametrize("name", ["truncated.jpg", "empty.png", "text.png", "bomb.png", "big.png",
                                  "exif_rotated.jpg", "grey16.png", "float.tif", "palette_alpha.png"])
def test_inpaint_endpoint(client, corpus, good, name, tmp_path):
    """Files go through the editor component: the same sentences as the other tabs (Gradio's own
    editor answered these with a generic error), EXIF applied, 16-bit and float read correctly."""
    case = corpus[name]
    size = case.size if case.readable and name not in HUGE else (8, 8)
    editor = {"background": handle_file(str(case.path)),
              "layers": [handle_file(str(_stroke_layer(size, tmp_path)))], "composite": None}
    if not case.readable or name in HUGE:
        with pytest.raises(AppError) as err:
            client.predict(editor, None, "tiny-inpaint", 1, 2.0, 1, api_name="/inpaint")
        _check_refusal(case, str(err.value), "768x768")
    else:
        _, _, png, facts, _ = client.predict(editor, None, "tiny-inpaint", 1, 2.0, 1, api_name="/inpaint")
        out = np.asarray(Image.open(png))
        decoded = decode_image(case.path)
        known = np.asarray(Image.open(tmp_path / "stroke.png"))[..., 3] == 0
        assert out.shape[:2] == (size[1], size[0]) and out.shape[2] == (4 if case.alpha else 3)
        assert np.array_equal(out[..., :3][known], (decoded.rgb * 255).round().astype(np.uint8)[known])
    _served_next(client, good)


@pytest.mark.parametrize("name", MASK_NAMES)
def test_inpaint_endpoint_mask_uploads(client, good, name, tmp_path):
    image = texture(32, 24, seed=9)
    Image.fromarray(image).save(tmp_path / "image.png")
    case = mask_corpus(tmp_path / "masks", (32, 24))[name]
    editor = {"background": handle_file(str(tmp_path / "image.png")), "layers": [], "composite": None}
    args = (editor, handle_file(str(case.path)), "tiny-inpaint", 1, 2.0, 1)
    if case.repaint is None:
        with pytest.raises(AppError) as err:
            client.predict(*args, api_name="/inpaint")
        assert re.search(case.error, str(err.value)), str(err.value)
    else:
        _, _, png, facts, _ = client.predict(*args, api_name="/inpaint")
        out = np.asarray(Image.open(png))
        assert np.array_equal(out[~case.repaint], image[~case.repaint])
        assert facts["masked_fraction"] == pytest.approx(case.repaint.mean(), abs=1e-4)
    _served_next(client, good)


@pytest.mark.parametrize("name, mode", [("text.png", "aligned"), ("bomb.png", "photo"), ("big.png", "photo"),
                                        ("line_53x1.png", "aligned"), ("line_53x1.png", "photo"),
                                        ("pixel_1x1.png", "aligned")])
def test_restore_face_endpoint(client, corpus, good, name, mode):
    case = corpus[name]
    call = (handle_file(str(case.path)), mode, "tiny-face", 1, 2.0, 1)
    if not case.readable or name in HUGE:
        with pytest.raises(AppError) as err:
            client.predict(*call, api_name="/restore_face")
        _check_refusal(case, str(err.value), "1536x1536")
    elif mode == "aligned" and case.size[0] != case.size[1]:
        with pytest.raises(AppError, match="must be square.*53x1.*whole-photo mode"):
            client.predict(*call, api_name="/restore_face")
    else:
        *_, png, facts = client.predict(*call, api_name="/restore_face")
        assert Image.open(png).size == case.size and facts["size"] == "{}x{}".format(*case.size)
    _served_next(client, good)


# ----------------------------------------------------------------------------- limits and failures
def test_upload_limit_names_the_limit(client, server, tmp_path, good):
    noisy = np.random.default_rng(0).integers(0, 256, (700, 700, 3), dtype=np.uint8)
    Image.fromarray(noisy).save(tmp_path / "large.png")  # about 1.4 MB of incompressible pixels
    assert (tmp_path / "large.png").stat().st_size > UPLOAD_MB << 20
    with pytest.raises(ValueError, match=f"exceeds the maximum file size of {UPLOAD_MB << 20} bytes"):
        sr(client, tmp_path / "large.png")  # the client reads the limit from the server's config
    with open(tmp_path / "large.png", "rb") as f:  # a client that ignores it is stopped by the server
        resp = httpx.post(f"{server.local_url}gradio_api/upload", files={"files": ("large.png", f, "image/png")})
    assert resp.status_code == 413 and f"maximum allowed size of {UPLOAD_MB << 20} bytes" in resp.text
    _served_next(client, good)


@pytest.mark.parametrize("error, where", [
    (torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"), "GPU"),
    (MemoryError(), "server"),
    (RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"), "server"),
])
def test_out_of_memory_is_a_message_and_the_next_request_is_served(client, models, good, monkeypatch,
                                                                   error, where):
    unet = models["sr"].unet
    real_forward, freed = unet.forward, []

    def fail_once(*args, **kwargs):
        monkeypatch.setattr(unet, "forward", real_forward)
        raise error

    monkeypatch.setattr(unet, "forward", fail_once)
    monkeypatch.setattr(errors, "free_memory", lambda: freed.append(True))
    with pytest.raises(AppError) as err:
        sr(client, good)
    assert str(err.value) == errors.OOM_MESSAGE.format(where=where)  # smaller image or tile size
    assert freed == [True]  # caches emptied before answering
    _served_next(client, good)


def test_a_path_sent_instead_of_an_upload_is_refused(server, client, good):
    """An API caller naming a server file gets an error; the handler never sees the path."""
    files_before = set((Path(server.GRADIO_CACHE) / "resshift").rglob("*"))
    for path in ("/etc/hostname", str(Path(app.__file__).resolve()), "../../../../etc/hostname"):
        body = {"data": [{"path": path, "meta": {"_type": "gradio.FileData"}}, "tiny-sr", 1, 2.0, 1,
                         "bicubic", "auto", "none"]}
        event = httpx.post(f"{server.local_url}gradio_api/call/super_resolve", json=body).json()["event_id"]
        stream = httpx.get(f"{server.local_url}gradio_api/call/super_resolve/{event}", timeout=60).text
        assert "event: error" in stream and "event: complete" not in stream
    assert set((Path(server.GRADIO_CACHE) / "resshift").rglob("*")) == files_before  # nothing ran
    _served_next(client, good)


def test_only_results_are_served(server, client, good):
    """allowed_paths stays empty: results are downloadable, the app's own files and the system's
    are not."""
    assert server.allowed_paths == [] and "allowed_paths" not in app.launch_kwargs(LIMITS)
    c = Client(server.local_url, verbose=False, download_files=False)
    *_, png, _ = c.predict(handle_file(str(good)), "tiny-sr", 1, 2.0, 1, api_name="/super_resolve")
    assert Path(png["path"]).is_relative_to(Path(server.GRADIO_CACHE) / "resshift")
    assert httpx.get(png["url"]).content[:8] == PNG_MAGIC
    for path in ("/etc/hostname", str(Path(app.__file__).resolve()), str(good)):
        assert httpx.get(f"{server.local_url}gradio_api/file={path}").status_code == 403, path


def test_two_concurrent_requests_never_share_an_output_file(server, good):
    """Same input, same seed, submitted together: same pixels, two different files."""
    clients = [Client(server.local_url, verbose=False, download_files=False) for _ in range(2)]
    jobs = [c.submit(handle_file(str(good)), "tiny-sr", 1, 2.0, 7, api_name="/super_resolve") for c in clients]
    results = [job.result(timeout=120) for job in jobs]
    paths = [r[2]["path"] for r in results]
    befores = [r[0][0]["path"] for r in results]
    assert paths[0] != paths[1] and Path(paths[0]).parent != Path(paths[1]).parent
    assert len(set(paths + befores)) == 4
    for p in paths:
        assert Path(p).parent.name.startswith("req-") and re.fullmatch(r"[A-Za-z0-9_.-]+\.png", Path(p).name)
    a, b = (_fetch(r[2]["url"]) for r in results)
    assert np.array_equal(a, b)


def test_a_full_queue_rejects_with_the_queue_message(models, good, tmp_path):
    """One request running, one waiting (queue size 1): a third is refused with Gradio's queue-full
    message; once the first finishes the others are served."""
    manager = ModelManager([], device="cpu")
    manager.put(models["sr"])
    limits = Limits.from_env("cpu", {"RESSHIFT_QUEUE_SIZE": "1"})
    with serve(manager, limits, tmp_path / "gradio") as demo:
        studio, entered, release = demo.studio, threading.Event(), threading.Event()
        real = studio.run_jobs

        def gated(jobs, progress=None):
            entered.set()
            assert release.wait(60)
            return real(jobs, progress)

        studio.run_jobs = gated
        clients = [Client(demo.local_url, verbose=False, download_files=False) for _ in range(3)]
        args = (handle_file(str(good)), "tiny-sr", 1, 2.0, 1)
        running = clients[0].submit(*args, api_name="/super_resolve")
        assert entered.wait(60)
        waiting = clients[1].submit(*args, api_name="/super_resolve")
        deadline = time.monotonic() + 30
        while len(demo._queue) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(demo._queue) == 1
        with pytest.raises(Exception, match="Queue is full! Please try again.") as err:
            clients[2].predict(*args, api_name="/super_resolve")
        assert type(err.value).__name__ == "QueueError"
        release.set()
        for job in (running, waiting):
            assert job.result(timeout=120)[3]["size"] == "80x48"
        assert clients[2].predict(*args, api_name="/super_resolve")[3]["size"] == "80x48"
