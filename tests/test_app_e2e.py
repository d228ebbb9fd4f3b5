"""End to end: the studio (tiny random models) served on 127.0.0.1 and called through gradio_client."""
import logging
from pathlib import Path

import numpy as np
import pytest
import urllib.request
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

import app
from studio.limits import Limits
from tests.helpers import serve_studio, tiny_manager

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    limits = Limits.from_env("cpu", {"RESSHIFT_MAX_PIXELS_SR": "128x128"})
    manager = tiny_manager("sr", "inpaint", "face")
    with serve_studio(manager, limits, files_root=tmp_path_factory.mktemp("files")) as demo:
        yield Client(demo.local_url, verbose=False)


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("in") / "crowd.png"
    Image.open(EXAMPLES / "sr" / "crowd_x4_lr.png").convert("RGB").crop((60, 40, 92, 64)).save(path)
    return path


def _is_png(path: str) -> bool:
    return Path(path).read_bytes()[:8] == PNG_MAGIC


def test_named_endpoints(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/super_resolve", "/inpaint", "/restore_face", "/compare_sr", "/compare_inpaint",
            "/compare_face"} <= names
    assert not any("live" in n or "pick" in n or "preview" in n for n in names)


def test_super_resolve_endpoint(client, photo):
    (before, after), caption, png, facts = client.predict(handle_file(str(photo)), "tiny-sr", 2, 2.0, 4,
                                                 api_name="/super_resolve")
    assert _is_png(png) and Image.open(png).size == (128, 96)
    assert Image.open(before).size == Image.open(after).size == (128, 96)
    assert facts["steps"] == 2 and facts["seed"] == 4 and facts["model"] == "tiny-sr"
    assert "tiny-sr · 2 steps" in caption


def test_inpaint_endpoint_keeps_known_pixels(client, tmp_path):
    face = Image.open(EXAMPLES / "inpaint" / "face_256.png").convert("RGB").resize((64, 64))
    face.save(tmp_path / "face.png")
    layer = np.zeros((64, 64, 4), np.uint8)
    layer[8:24, 16:48] = (255, 45, 85, 180)
    Image.fromarray(layer).save(tmp_path / "stroke.png")
    editor = {"background": handle_file(str(tmp_path / "face.png")),
              "layers": [handle_file(str(tmp_path / "stroke.png"))], "composite": None}
    _, _, png, facts, preview = client.predict(editor, None, "tiny-inpaint", 2, 2.0, 1, api_name="/inpaint")
    out, src = np.asarray(Image.open(png)), np.asarray(face)
    known = layer[..., 3] == 0
    assert _is_png(png) and out.shape == (64, 64, 3)
    assert np.array_equal(out[known], src[known])
    assert facts["masked_fraction"] == pytest.approx(16 * 32 / 64 ** 2, abs=1e-4)
    assert Image.open(preview).size == (64, 64)


def test_inpaint_endpoint_without_mask_says_so(client, tmp_path):
    Image.open(EXAMPLES / "inpaint" / "face_256.png").save(tmp_path / "face.png")
    editor = {"background": handle_file(str(tmp_path / "face.png")), "layers": [], "composite": None}
    with pytest.raises(AppError, match="Nothing to repaint"):
        client.predict(editor, None, "tiny-inpaint", 1, 2.0, 1, api_name="/inpaint")


def test_restore_face_endpoint(client):
    *_, png, facts = client.predict(handle_file(str(EXAMPLES / "face" / "celebahq_00234_lq.jpg")), "aligned",
                                   "tiny-face", 1, 2.0, 3, api_name="/restore_face")
    assert _is_png(png) and Image.open(png).size == (512, 512) and facts["steps"] == 1


def test_face_scale_is_a_whole_number_in_the_schema_and_its_text_is_taken_too(client, tmp_path):
    """The API's schema offers the output scale as the integers it is; "2" (as Gradio's radio
    schemas used to say) is read as 2."""
    info = client.view_api(print_info=False, return_format="dict")
    params = {p["parameter_name"]: p for p in info["named_endpoints"]["/restore_face"]["parameters"]}
    assert params["scale"]["type"] == {"enum": [1, 2, 4], "title": "Radio", "type": "integer"}
    photo = tmp_path / "speaker.png"
    Image.open(EXAMPLES / "face" / "speaker_photo.jpg").convert("RGB").resize((96, 64)).save(photo)
    for scale in (2, "2"):
        *_, png, facts = client.predict(handle_file(str(photo)), "photo", "tiny-face", 1, 2.0, 3, "bicubic",
                                        "none", scale, api_name="/restore_face")
        assert Image.open(png).size == (192, 128) and facts["scale"] == 2
    with pytest.raises(AppError, match="scale must be one of 1, 2, 4; got 3"):
        client.predict(handle_file(str(photo)), "photo", "tiny-face", 1, 2.0, 3, "bicubic", "none", 3,
                       api_name="/restore_face")


def test_compare_endpoint(client, photo):
    gallery, (left, right), caption, table, png = client.predict(handle_file(str(photo)), "tiny-sr", 4, 2.0, 2,
                                                            "bicubic", "auto", "none", "steps", "1,2",
                                                            api_name="/compare_sr")
    assert _is_png(png) and Image.open(png).tobytes() == Image.open(right).tobytes()
    assert [item["caption"].split(" · ")[0] for item in gallery] == ["1 step", "2 steps"]
    assert all(_is_png(item["image"]) for item in gallery)
    assert [row["steps"] for row in table] == [1, 2]
    assert Image.open(left).size == Image.open(right).size == (128, 96)


def test_errors_reach_the_client_as_sentences(client, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"GIF89a but not really")
    with pytest.raises(AppError, match="damaged or truncated|not an image"):
        client.predict(handle_file(str(bad)), "tiny-sr", 1, 2.0, 1, api_name="/super_resolve")
    big = tmp_path / "big.png"
    Image.new("RGB", (200, 100)).save(big)
    with pytest.raises(AppError, match=r"200x100.*128x128"):
        client.predict(handle_file(str(big)), "tiny-sr", 1, 2.0, 1, api_name="/super_resolve")


def test_share_without_network_keeps_serving(monkeypatch, caplog):
    import gradio.networking

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(gradio.networking, "setup_tunnel", offline)
    limits = Limits.defaults("cpu")
    demo = app.build_demo(tiny_manager("sr", "inpaint", "face"), limits=limits)
    with caplog.at_level(logging.WARNING, logger="resshift.studio"):
        app.serve(demo, limits, host="127.0.0.1", share=True)
    try:
        assert demo.share_url is None
        assert any("share link" in r.getMessage() for r in caplog.records)
        with urllib.request.urlopen(demo.local_url, timeout=10) as page:
            assert page.status == 200
    finally:
        demo.close()
