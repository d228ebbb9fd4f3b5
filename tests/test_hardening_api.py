"""The HTTP API with tiny random models on 127.0.0.1: seeds exact up to 2^63-1 (gradio_client),
requests over the work limit refused with the reason, and a sentence for every malformed value
posted as raw JSON (POST /gradio_api/call/<name>, then the SSE result), never Gradio's hidden
``{"error": null}``."""
import io
import json
import math
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from tests.corpus import texture
from tests.helpers import serve_studio, tiny_manager

SEED_53 = 2 ** 53 + 1  # the first whole number a double cannot hold
SEED_MAX = 2 ** 63 - 1
GENERIC = "upstream Gradio app has raised an exception"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve_studio(tiny_manager("sr", "inpaint", "face"), temp_dir=tmp_path_factory.mktemp("gradio")) as demo:
        yield demo


@pytest.fixture(scope="module")
def client(server, tmp_path_factory):
    return Client(server.local_url, verbose=False, download_files=str(tmp_path_factory.mktemp("downloads")))


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("good") / "good.png"
    Image.fromarray(texture(20, 12, seed=3)).save(path)
    return path


def _sr(client, path, seed, steps=2):
    return client.predict(handle_file(str(path)), "tiny-sr", steps, 2.0, seed, api_name="/super_resolve")


def _pixels(path: str) -> np.ndarray:
    return np.asarray(Image.open(path))


# ----------------------------------------------------------------------------- seeds
def test_the_seed_is_text_in_the_api_at_its_place(client):
    params = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/super_resolve"]["parameters"]
    assert [p["parameter_name"] for p in params[:5]] == ["image", "model", "steps", "kappa", "seed"]
    assert params[4]["type"]["type"] == "string" and params[4]["component"] == "Textbox"


@pytest.mark.parametrize("seed", [SEED_53, SEED_MAX], ids=["2^53+1", "2^63-1"])
def test_large_seeds_are_exact_end_to_end(client, good, seed):
    """Sent as text (what the page sends) or as an integer: the facts report the exact seed, and
    the same seed gives the same image; the seed one below gives another (it was not rounded)."""
    *_, png, facts = _sr(client, good, str(seed))
    assert facts["seed"] == seed and f"seed{seed}" in Path(png).name
    *_, again, facts_again = _sr(client, good, seed)  # an integer in the JSON
    assert facts_again["seed"] == seed and np.array_equal(_pixels(png), _pixels(again))
    *_, below, _ = _sr(client, good, str(seed - 1))
    assert not np.array_equal(_pixels(png), _pixels(below))


def test_a_seed_past_2_63_is_refused_with_the_sentence(client, good):
    with pytest.raises(AppError, match=r"The seed must be a whole number from 0 to 2\^63-1; got 9223372036854775808\."):
        _sr(client, good, str(2 ** 63))


# ----------------------------------------------------------------------------- work
def test_a_thin_image_is_refused_for_its_work(client, tmp_path, good):
    """4x16384: a quarter of the pixel limit, but padded to the tiny model's 16 pixels it would
    cost several times a square image of as many pixels at 4 steps: refused before any model runs."""
    thin = tmp_path / "thin.png"
    Image.fromarray(texture(4, 16384, seed=1)).save(thin)
    with pytest.raises(AppError) as err:
        _sr(client, thin, "1", steps=4)
    text = str(err.value)
    assert "This image is 4x16384 pixels, a very thin shape" in text and "padded to 16x16384" in text
    assert "RESSHIFT_MAX_WORK" in text
    assert _sr(client, good, "1")[3]["size"] == "80x48"  # the next request is served


def test_the_task_endpoint_and_a_batch_keep_the_work_limit_too(client, tmp_path, good):
    """The same 4x16384 image through the plain task endpoint (agents, MCP) and in a batch: each
    refused for its work with the same sentence (the batch reports it for that image and goes on)."""
    thin = tmp_path / "thin.png"
    Image.fromarray(texture(4, 16384, seed=1)).save(thin)
    with pytest.raises(AppError, match="This image is 4x16384 pixels, a very thin shape"):
        client.predict(handle_file(str(thin)), "tiny-sr", 4, 0.0, 1, api_name="/super_resolution")
    gallery, _, report, manifest = client.predict([handle_file(str(thin)), handle_file(str(good))], "tiny-sr", 4,
                                                  2.0, 1, "auto", "none", api_name="/batch_sr")
    assert len(gallery) == 1 and [f["input"] for f in manifest["failed"]] == ["thin.png"]
    assert "a very thin shape" in manifest["failed"][0]["reason"]


def test_the_page_states_the_work_limit(server):
    page = httpx.get(server.local_url, timeout=60).text
    assert "work up to 2.5x that of a square image with as many pixels" in page


# ----------------------------------------------------------------------------- malformed values
def _upload(base: str, path: Path) -> dict:
    with open(path, "rb") as f:
        name = httpx.post(f"{base}/gradio_api/upload", files={"files": (path.name, f, "image/png")},
                          timeout=60).json()[0]
    return {"path": name, "meta": {"_type": "gradio.FileData"}, "orig_name": path.name}


def raw_call(base: str, api: str, data: list) -> tuple[str, object]:
    """POST the values as JSON (NaN written as JSON's NaN extension), read the SSE answer:
    (event, data) of its last message."""
    body = json.dumps({"data": data}, allow_nan=True)
    r = httpx.post(f"{base}/gradio_api/call/{api}", content=body, headers={"content-type": "application/json"},
                   timeout=60)
    assert r.status_code == 200, r.text
    with httpx.stream("GET", f"{base}/gradio_api/call/{api}/{r.json()['event_id']}", timeout=300) as s:
        text = "".join(s.iter_text())
    event = data_line = None
    for line in text.splitlines():
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data_line = line.split(":", 1)[1].strip()
    return event, json.loads(data_line) if data_line else None


NAN = math.nan
# (endpoint, index of the value, the malformed value, words the sentence must hold)
MALFORMED = [
    ("super_resolve", 0, "abc", "image must be an uploaded file"),
    ("super_resolve", 0, 123, "image must be an uploaded file"),
    ("super_resolve", 0, {"path": "/etc/hostname", "meta": {"_type": "gradio.FileData"}}, "not on this server"),
    ("super_resolve", 1, 123, "model must be one of 'tiny-sr'; got 123"),
    ("super_resolve", 1, None, "Unknown model None"),
    ("super_resolve", 2, None, "Steps must be a number; got None"),
    ("super_resolve", 2, "abc", "Steps must be a number; got 'abc'"),
    ("super_resolve", 2, NAN, "Steps must be a number, got nan"),
    ("super_resolve", 2, 1e308, "Steps must be a whole number, got 1e+308"),
    ("super_resolve", 2, 9, "Steps must be between 1 and 4 for tiny-sr"),
    ("super_resolve", 3, NAN, "Kappa must be from 0.1 to 8; got nan"),
    ("super_resolve", 3, 1e308, "Kappa must be from 0.1 to 8; got 1e+308"),
    ("super_resolve", 3, "abc", "Kappa must be a number; got 'abc'"),
    ("super_resolve", 3, None, "Kappa must be a number; got None"),
    ("super_resolve", 4, "abc", "The seed must be a whole number from 0 to 2^63-1; got 'abc'"),
    ("super_resolve", 4, 1.5, "The seed must be a whole number from 0 to 2^63-1; got '1.5'"),
    ("super_resolve", 4, -1, "The seed must be a whole number from 0 to 2^63-1; got -1"),
    ("super_resolve", 4, [1], "The seed must be a whole number from 0 to 2^63-1; got '[1]'"),
    ("super_resolve", 5, 123, "resample must be one of 'bicubic', 'nearest'; got 123"),
    ("super_resolve", 6, "big", "tile must be one of 'auto', 'off', '128', '256', '512'; got 'big'"),
    ("super_resolve", 7, "x", "color_fix must be one of 'none', 'wavelet', 'adain'; got 'x'"),
    ("inpaint", 0, "abc", "editor must be an object {background, layers, composite}"),
    ("inpaint", 0, {"background": "IMAGE", "layers": [None], "composite": None},
     "editor.layers must be a list of uploaded files"),
    ("inpaint", 0, {"background": "abc", "layers": [], "composite": None},
     "editor.background must be an uploaded file"),
    ("inpaint", 1, 5, "mask_upload must be an uploaded file"),
    ("restore_face", 1, "x", "mode must be one of 'aligned', 'photo'; got 'x'"),
    ("restore_face", 8, "abc", "scale must be one of 1, 2, 4; got 'abc'"),
    ("restore_face", 11, "abc", "min_face_size must be a number; got 'abc'"),
    ("compare_sr", 8, "x", "vary must be one of 'steps', 'kappa', 'models'; got 'x'"),
    ("compare_sr", 9, "a,b", "Cannot read 'a' as a whole number"),
]


def _valid(api: str, image: dict) -> list:
    sr = [image, "tiny-sr", 1, 2.0, "1", "bicubic", "auto", "none"]
    if api == "super_resolve":
        return sr
    if api == "compare_sr":
        return sr + ["steps", "1, 2"]
    if api == "inpaint":
        return [{"background": image, "layers": [], "composite": None}, image, "tiny-inpaint", 1, 2.0, "1",
                "bicubic", "auto", "none"]
    return [image, "photo", "tiny-face", 1, 2.0, "1", "bicubic", "none", 1, "resize", "all", 32]


@pytest.mark.parametrize("api,index,value,words", MALFORMED,
                         ids=[f"{a}-{i}-{str(v)[:20]}" for a, i, v, _ in MALFORMED])
def test_a_malformed_value_gets_a_sentence(server, good, api, index, value, words):
    base = server.local_url.rstrip("/")
    image = _upload(base, good)
    data = _valid(api, image)
    if isinstance(value, dict) and value.get("background") == "IMAGE":
        value = dict(value, background=image)
    data[index] = value
    event, payload = raw_call(base, api, data)
    assert event == "error" and isinstance(payload, dict), (event, payload)
    message = payload["error"]
    assert isinstance(message, str) and message[0].isupper() and message.endswith("."), payload
    assert words.lower() in message.lower() and GENERIC not in message
    assert payload["title"] == "Cannot run"


def test_the_valid_values_of_the_malformed_cases_run(server, good):
    """The cases above differ from a request that runs by their one value."""
    base = server.local_url.rstrip("/")
    image = _upload(base, good)
    event, payload = raw_call(base, "super_resolve", _valid("super_resolve", image))
    assert event == "complete" and payload[3]["size"] == "80x48"


def test_a_damaged_jpeg_is_called_damaged(client, tmp_path):
    """A JPEG damaged within its header segments: it begins like a JPEG, so it is a damaged one,
    not "not an image"."""
    buf = io.BytesIO()
    Image.fromarray(texture(64, 48, seed=2)).save(buf, "JPEG", quality=90)
    data = bytearray(buf.getvalue())
    data[100:200] = bytes(100)  # zeros over its quantisation tables and frame header
    bad = tmp_path / "damaged.jpg"
    bad.write_bytes(bytes(data))
    with pytest.raises(AppError, match="damaged or truncated JPEG image: it begins like one, but its header "
                                       "cannot be read"):
        _sr(client, bad, "1")
