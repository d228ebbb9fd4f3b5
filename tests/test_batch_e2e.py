"""Batches end to end: the studio (tiny random models) served on 127.0.0.1 and called through
gradio_client; a zip of 10 images comes back as a zip of 10 results with manifest.json, and bad
zips get a sentence while the server keeps serving."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from tests.helpers import serve_studio, tiny_manager

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with serve_studio(tiny_manager("sr", "inpaint", "face"), files_root=tmp_path_factory.mktemp("files")) as demo:
        yield Client(demo.local_url, verbose=False)


def _photos_zip(path: Path, n: int) -> Path:
    src = Image.open(EXAMPLES / "sr" / "crowd_x4_lr.png").convert("RGB")
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(n):
            buf = io.BytesIO()
            src.crop((6 * i, 3 * i, 6 * i + 16, 3 * i + 12)).save(buf, "PNG")
            zf.writestr(f"holiday/day{i // 5}/photo{i}.png", buf.getvalue())
    return path


def test_batch_endpoints_are_named(client):
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/batch_sr", "/batch_inpaint", "/batch_face"} <= names


def test_a_zip_of_ten_photos_comes_back_as_a_zip_of_ten_results(client, tmp_path):
    photos = _photos_zip(tmp_path / "photos.zip", 10)
    gallery, result_zip, report, manifest = client.predict(
        [handle_file(str(photos))], "tiny-sr", 1, 2.0, 7, "auto", "none", api_name="/batch_sr")
    assert len(gallery) == 10 and all(Image.open(item["image"]).size == (64, 48) for item in gallery)
    with zipfile.ZipFile(result_zip) as zf:
        names = zf.namelist()
        in_zip = json.loads(zf.read("manifest.json"))
        sizes = {Image.open(io.BytesIO(zf.read(n))).size for n in names if n.endswith(".png")}
    assert sorted(names) == sorted(["manifest.json"] + [f"holiday_day{i // 5}_photo{i}.png" for i in range(10)])
    assert sizes == {(64, 48)}
    assert in_zip == manifest and manifest["settings"]["seed"] == 7 and manifest["settings"]["steps"] == 1
    assert len(manifest["images"]) == 10 and manifest["failed"] == [] and manifest["skipped"] == []
    assert report.startswith("**Restored 10 of 10 images**")


def test_bad_zips_get_a_sentence_and_the_studio_keeps_serving(client, tmp_path):
    corrupt = tmp_path / "corrupt.zip"
    corrupt.write_bytes(_photos_zip(tmp_path / "x.zip", 2).read_bytes()[:200])
    with pytest.raises(AppError, match="corrupt.zip is not a zip file or is damaged"):
        client.predict([handle_file(str(corrupt))], "tiny-sr", 1, 2.0, 7, "auto", "none", api_name="/batch_sr")
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("bomb.png", "w", force_zip64=True) as f:
            for _ in range(100):
                f.write(bytes(1 << 20))
    with pytest.raises(AppError, match="which is how zip bombs are made"):
        client.predict([handle_file(str(bomb))], "tiny-sr", 1, 2.0, 7, "auto", "none", api_name="/batch_sr")
    one = _photos_zip(tmp_path / "one.zip", 1)
    gallery, *_ = client.predict([handle_file(str(one))], "tiny-sr", 1, 2.0, 7, "auto", "none",
                                 api_name="/batch_sr")
    assert len(gallery) == 1
