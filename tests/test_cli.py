"""The command line end to end, on real image files, with tiny randomly initialised models."""
import numpy as np
from PIL import Image

from .helpers import DATA, run_cli, write_tiny_model

REAL = DATA / "images" / "realsr_canon006_crop.png"


def test_cli_sr_folder_with_a_bad_file(tmp_path):
    spec, wdir = write_tiny_model(tmp_path, "sr")
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.open(REAL).crop((0, 0, 40, 24)).save(inputs / "a.png")
    Image.open(REAL).crop((0, 0, 20, 20)).convert("L").save(inputs / "b.jpg")
    (inputs / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    res = run_cli("sr", str(inputs), "-o", str(out), "--model-spec", str(spec), "--weights-dir", str(wdir),
               "--offline", "--seed", "7", "--steps", "2", "--device", "cpu", "-q")
    assert res.returncode == 1, res.stderr  # one input failed, the others were processed
    assert "broken.png" in res.stdout + res.stderr and "not an image" in res.stdout + res.stderr
    a = np.asarray(Image.open(out / "a.png"))
    b = np.asarray(Image.open(out / "b.png"))
    assert a.shape == (96, 160, 3) and b.shape == (80, 80, 3)
    assert a.dtype == np.uint8 and a.std() > 0
    assert not (out / "broken.png").exists()


def test_cli_inpaint_keeps_known_pixels(tmp_path):
    spec, wdir = write_tiny_model(tmp_path, "inpaint")
    img = Image.open(REAL).crop((0, 0, 48, 40)).convert("RGB")
    img.save(tmp_path / "img.png")
    mask = np.zeros((40, 48), np.uint8)
    mask[8:20, 10:30] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "result.png"
    res = run_cli("inpaint", str(tmp_path / "img.png"), "--mask", str(tmp_path / "mask.png"), "-o", str(out),
               "--model-spec", str(spec), "--weights-dir", str(wdir), "--offline", "--seed", "1", "-q")
    assert res.returncode == 0, res.stderr
    result = np.asarray(Image.open(out))
    known = mask == 0
    assert np.array_equal(result[known], np.asarray(img)[known])
    assert (result[~known] != np.asarray(img)[~known]).mean() > 0.5


def test_cli_reports_missing_weights_offline(tmp_path):
    spec, _ = write_tiny_model(tmp_path, "sr")
    res = run_cli("sr", str(REAL), "-o", str(tmp_path / "o.png"), "--model-spec", str(spec),
               "--weights-dir", str(tmp_path / "empty"), "--offline")
    assert res.returncode == 2
    assert "tiny-sr-unet.safetensors" in res.stderr and "Traceback" not in res.stderr


def test_cli_lists_models():
    res = run_cli("sr", "x", "-o", "y", "--list-models")
    assert res.returncode == 0
    for name in ("realsr-v3", "realsr-v1", "bicsr", "inpaint-imagenet", "faceir", "lite-sr"):
        assert name in res.stdout
