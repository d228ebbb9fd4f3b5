"""The command line end to end, on real image files, with tiny randomly initialised models."""
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from resshift.cli import _parser, main

from tests.helpers import DATA, ROOT, run_cli, write_tiny_model

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
    # stdout: one JSON object per result, nothing else; the failure is a sentence on stderr
    lines = [json.loads(line) for line in res.stdout.splitlines()]
    assert sorted((r["input"], r["output"]) for r in lines) == [
        (str(inputs / "a.png"), str(out / "a.png")), (str(inputs / "b.jpg"), str(out / "b.png"))]
    assert all(r["model"] == "tiny-sr" and r["seed"] == 7 and r["steps"] == 2 for r in lines)
    assert "skipped broken.png: " in res.stderr and "not an image" in res.stderr
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
    """In the command line's words (the flags the user typed, --weights-dir), both files named,
    found while the arguments are checked (argparse's usage line comes with it)."""
    spec, _ = write_tiny_model(tmp_path, "sr")
    res = run_cli("sr", str(REAL), "-o", str(tmp_path / "o.png"), "--model-spec", str(spec),
               "--weights-dir", str(tmp_path / "empty"), "--offline")
    assert res.returncode == 2
    assert "tiny-sr-unet.safetensors" in res.stderr and "Traceback" not in res.stderr
    error = [line for line in res.stderr.splitlines() if "error: " in line]
    assert len(error) == 1 and res.stderr.startswith("usage: "), res.stderr
    assert "error: cannot load model 'tiny-sr': its weight files tiny-sr-unet.safetensors" in error[0]
    assert "tiny-sr-vq.safetensors" in error[0] and f"looked in {tmp_path / 'empty'} and " in error[0]
    assert "--offline (or RESSHIFT_OFFLINE=1) turns downloads off" in error[0] and "--weights-dir" in error[0]
    assert "allow_download" not in res.stderr and not (tmp_path / "o.png").exists()


def test_cli_lists_models():
    res = run_cli("sr", "x", "-o", "y", "--list-models")
    assert res.returncode == 0
    for name in ("realsr-v3", "realsr-v1", "bicsr", "inpaint-imagenet", "faceir", "lite-sr"):
        assert name in res.stdout


def test_cli_lists_models_without_a_task():
    res = run_cli("--list-models")
    assert res.returncode == 0 and "lite-inpaint" in res.stdout


@pytest.mark.parametrize("args, message", [
    (["sr"], "required: input, -o/--output"),
    (["sr", str(REAL), "-o", "x.png", "--steps", "0"], "steps must be between 1 and 4 for lite-sr"),
    (["sr", str(REAL), "-o", "x.png", "--kappa", "-1"], "kappa must be from 0.1 to 8; got -1"),
    (["sr", str(REAL), "-o", "x.png", "--seed", "-1"], "seed must be a whole number from 0 to 2^63-1; got -1"),
    (["sr", str(REAL), "-o", "x.png", "--tile", "-3"], "tile must be >= 0"),
    (["sr", str(REAL), "-o", "x.png", "--device", "tpu"], "--device must be cpu, cuda, cuda:N or auto"),
    (["sr", str(REAL), "-o", "x.png", "--model-spec", "missing.json"], "--model-spec missing.json"),
    (["sr", "missing.png", "-o", "x.png", "--model", "realsr-v3"], "input missing.png does not exist"),
    (["sr", str(REAL), "-o", "x.png", "--model", "lite-face"],
     "the model lite-face is a face restoration model; choose a super-resolution model"),
    (["sr", str(REAL), "-o", "x.png", "--model", "nope"], "unknown model 'nope'; known: realsr-v3"),
    (["sr", str(REAL), "-o", "x.png", "--model", "lite-sr", "--steps", "9"],
     "steps must be between 1 and 4 for lite-sr (it was trained with 4); got 9"),
    (["inpaint", str(REAL), "-o", "x.png"], "inpainting needs --mask"),
    (["inpaint", str(REAL), "-o", "x.png", "--mask", "missing.png"], "--mask missing.png does not exist"),
    (["sr", str(DATA / "images"), "-o", str(REAL)], "is a file; a folder of inputs needs an output folder"),
    (["sr", str(REAL), "-o", "x.xyz"],
     "cannot write an image as x.xyz: .xyz is not an image format Pillow writes; name the output e.g. x.png"),
    (["sr", str(REAL), "-o", "x.mp4"], "cannot write an image as x.mp4"),
    (["sr", str(REAL), "-o", "x.h5"], "cannot write an image as x.h5"),  # Pillow's stub: no writer installed
])
def test_cli_usage_errors_exit_2_before_loading(args, message, capsys, tmp_path, monkeypatch):
    """Wrong arguments are one 'error:' line and exit status 2, found before any weights load (an
    official model's are never downloaded for a missing input)."""
    monkeypatch.chdir(tmp_path)
    def no_loading(*args, **kwargs):
        raise AssertionError("a model was loaded before the usage error")

    monkeypatch.setattr("resshift.manager.ModelManager.get", no_loading)  # loading anything fails loudly
    with pytest.raises(SystemExit) as exit_:
        main(args)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "error: " in err and message in err, err
    assert "Traceback" not in err


def test_cli_writes_any_suffix_pillow_writes(tmp_path):
    """An output named .WEBP (upper case) or .tif is accepted, written in that format, and reported
    as one JSON line with the paths as given."""
    spec, wdir = write_tiny_model(tmp_path, "sr")
    Image.open(REAL).crop((0, 0, 24, 16)).save(tmp_path / "in.png")
    for name, fmt in (("o.WEBP", "WEBP"), ("o.tif", "TIFF")):
        res = run_cli("sr", str(tmp_path / "in.png"), "-o", str(tmp_path / name), "--model-spec", str(spec),
                      "--weights-dir", str(wdir), "--offline", "--steps", "1", "-q")
        assert res.returncode == 0, res.stderr
        assert Image.open(tmp_path / name).format == fmt
        facts = json.loads(res.stdout)
        assert (facts["input"], facts["output"], facts["size"]) == (str(tmp_path / "in.png"), str(tmp_path / name),
                                                                    "96x64")


def test_every_argument_has_help():
    parser = _parser()
    assert [a.dest for a in parser._actions if not a.help] == []
    helps = {a.dest: a.help for a in parser._actions}
    assert "default auto: the best model of the task that can run here" in helps["model"]
    assert helps["task"].startswith("sr: super-resolution") and "wavelet" in helps["color_fix"]
    assert "no progress bars" in helps["quiet"]
    assert "--color-fix" in parser.format_help()


def test_cli_module_runs_as_script(tmp_path):
    res = subprocess.run([sys.executable, "-m", "resshift.cli", "--list-models"], capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    assert res.returncode == 0 and "lite-sr" in res.stdout


@pytest.mark.slow
def test_cli_folder_outputs_and_masks_beside_inputs(tmp_path):
    """Inputs sharing a stem keep their suffix in the output name; a mask folder that is the input
    folder gives NAME_mask.png as the masks, which are not restored themselves."""
    spec, wdir = write_tiny_model(tmp_path, "sr")
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.open(REAL).crop((0, 0, 24, 24)).save(inputs / "a.png")
    Image.open(REAL).crop((8, 8, 32, 32)).convert("RGB").save(inputs / "a.jpg")
    res = run_cli("sr", str(inputs), "-o", str(tmp_path / "out"), "--model-spec", str(spec), "--weights-dir",
                  str(wdir), "--offline", "--seed", "1", "-q")
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a_jpg.png", "a_png.png"]

    spec, wdir = write_tiny_model(tmp_path, "inpaint")
    folder = tmp_path / "pairs"
    folder.mkdir()
    img = Image.open(REAL).crop((0, 0, 48, 40)).convert("RGB")
    img.save(folder / "room.png")
    mask = np.zeros((40, 48), np.uint8)
    mask[8:20, 10:30] = 255
    Image.fromarray(mask).save(folder / "room_mask.png")
    res = run_cli("inpaint", str(folder), "--mask", str(folder), "-o", str(tmp_path / "filled"),
                  "--model-spec", str(spec), "--weights-dir", str(wdir), "--offline", "--seed", "1", "-q")
    assert res.returncode == 0, res.stderr
    assert [p.name for p in (tmp_path / "filled").iterdir()] == ["room.png"]
    result = np.asarray(Image.open(tmp_path / "filled" / "room.png"))
    assert np.array_equal(result[mask == 0], np.asarray(img)[mask == 0])
    assert (result[mask > 0] != np.asarray(img)[mask > 0]).mean() > 0.5


def test_cli_offline_reaches_the_whole_photo_path(tmp_path):
    """The face detector and parser follow --offline like the models: with it, a whole-photo run
    asks the (recording) mirror for nothing; without it, it asks for RetinaFace and ParseNet, finds
    neither (404) and falls back to the bundled YuNet and the feathered square."""
    import functools
    import http.server
    import threading

    spec, wdir = write_tiny_model(tmp_path, "face")
    paths: list[str] = []

    class Recording(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            paths.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Recording, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {"RESSHIFT_OFFLINE": "0", "RESSHIFT_WEIGHTS_MIRROR": f"http://127.0.0.1:{server.server_port}",
           "RESSHIFT_CACHE_DIR": str(tmp_path / "cache")}
    photo = str(DATA / "faces" / "portrait_deepface_img12.jpg")
    try:
        args = ("face", photo, "--model-spec", str(spec), "--weights-dir", str(wdir), "--steps", "1", "-q")
        offline = run_cli(*args, "-o", str(tmp_path / "a.png"), "--offline", env=env)
        assert offline.returncode == 0, offline.stderr
        assert paths == []
        online = run_cli(*args, "-o", str(tmp_path / "b.png"), env=env)
        assert online.returncode == 0, online.stderr
        assert set(paths) == {"/detection_Resnet50_Final.pth", "/parsing_parsenet.pth"}  # (404s log twice)
    finally:
        server.shutdown()
    assert '"faces": 1' in offline.stdout and '"faces": 1' in online.stdout


@pytest.mark.parametrize("extra, words", [(["--mask", "m.png"], "--mask is for inpainting; sr takes no mask"),
                                          (["--aligned"], "--aligned is for face restoration; sr takes no faces")])
def test_flags_of_another_task_are_usage_errors(tmp_path, extra, words):
    """A flag the task does not take is said before anything loads, not silently ignored."""
    image = tmp_path / "in.png"
    Image.new("RGB", (16, 16)).save(image)
    (tmp_path / "m.png").write_bytes(image.read_bytes())
    res = run_cli("sr", str(image), "-o", str(tmp_path / "out.png"),
                  *[str(tmp_path / e) if e.endswith(".png") else e for e in extra])
    assert res.returncode == 2 and words in res.stderr and not res.stdout
