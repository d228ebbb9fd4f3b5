"""Request limits are explicit and configurable (flags and environment), their defaults hang
together, and Pillow's guards (decompression bombs, truncated files) stay on whatever is imported."""
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageFile

import app
from resshift.manager import ModelManager
from studio.limits import ENV_PIXELS, TASK_NAMES, Limits
from tests.helpers import tiny_model

ROOT = Path(__file__).resolve().parents[1]
PILLOW_DEFAULT_MAX_PIXELS = int(1024 * 1024 * 1024 // 4 // 3)  # Pillow's documented default
FLAGS = ["--max-upload-mb", "5", "--max-pixels-sr", "256x256", "--max-pixels-inpaint", "300x300",
         "--max-pixels-face", "1000000", "--max-output-pixels", "2048x2048", "--timeout", "30",
         "--queue-size", "3"]
ENV = {"RESSHIFT_MAX_UPLOAD_MB": "5", "RESSHIFT_MAX_PIXELS_SR": "256x256", "RESSHIFT_MAX_PIXELS_INPAINT": "300x300",
       "RESSHIFT_MAX_PIXELS_FACE": "1000000", "RESSHIFT_MAX_OUTPUT_PIXELS": "2048x2048",
       "RESSHIFT_REQUEST_TIMEOUT": "30", "RESSHIFT_QUEUE_SIZE": "3"}


@pytest.fixture
def clean_env(monkeypatch):
    for name in list(ENV) + ["RESSHIFT_MAX_COMPARE"]:
        monkeypatch.delenv(name, raising=False)


def _expected(limits: Limits) -> None:
    assert limits.max_upload_bytes == 5 << 20
    assert dict(limits.max_pixels) == {"sr": 256 * 256, "inpaint": 300 * 300, "face": 1_000_000}
    assert limits.max_output_pixels == 2048 * 2048
    assert limits.request_timeout == 30.0 and limits.queue_size == 3


def test_every_limit_has_a_flag(clean_env):
    _expected(app._limits_from(app._parser().parse_args(FLAGS), "cpu"))


def test_every_limit_has_an_environment_variable(clean_env, monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    _expected(app._limits_from(app._parser().parse_args([]), "cpu"))
    assert set(ENV_PIXELS.values()) <= set(ENV)


def test_flags_override_the_environment(clean_env, monkeypatch):
    monkeypatch.setenv("RESSHIFT_MAX_PIXELS_SR", "100x100")
    monkeypatch.setenv("RESSHIFT_REQUEST_TIMEOUT", "5")
    limits = app._limits_from(app._parser().parse_args(["--max-pixels-sr", "64x64"]), "cuda")
    assert limits.max_pixels["sr"] == 64 * 64 and limits.request_timeout == 5.0
    assert limits.hardware == "GPU" and limits.max_pixels["face"] == Limits.defaults("cuda").max_pixels["face"]


def test_limits_reach_the_server(clean_env):
    limits = app._limits_from(app._parser().parse_args(FLAGS), "cpu")
    manager = ModelManager([], device="cpu")
    manager.put(tiny_model("sr"))
    demo = app.build_demo(manager, limits=limits)
    assert app.launch_kwargs(limits)["max_file_size"] == 5 << 20  # Gradio refuses larger uploads
    assert demo._queue.max_size == 3  # and more waiting requests
    assert demo.studio.limits is limits  # pixels and timeout are checked per request by the handlers
    assert "30 s per request" in limits.summary() and "super-resolution 256x256" in limits.summary()


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_defaults_hang_together(device):
    """Explicit defaults; an input at each task's pixel limit is allowed to produce its result, and
    fits the upload limit even as an incompressible 8-bit RGB PNG."""
    limits = Limits.defaults(device)
    assert limits.request_timeout and limits.request_timeout <= 600 and limits.queue_size >= 8
    for task, scale in (("sr", 4), ("inpaint", 1), ("face", 1)):
        side = int(limits.max_pixels[task] ** 0.5)
        limits.check_input(task, side, side, scale)  # does not raise
        assert limits.max_pixels[task] * 3 < limits.max_upload_bytes, TASK_NAMES[task]
    assert Limits.defaults("cpu").max_pixels["sr"] < Limits.defaults("cuda").max_pixels["sr"]


def test_pillow_guards_stay_on_after_importing_everything():
    """Nothing the project imports (the app, the library, basicsr, gfpgan, facexlib) turns off
    Pillow's decompression-bomb guard or makes it accept truncated files."""
    code = ("import app, resshift.cli, resshift.face, resshift.data, resshift.train, studio.handlers\n"
            "from resshift.runtime.compat import install_torchvision_compat\n"
            "install_torchvision_compat()\n"
            "import basicsr.utils, gfpgan.archs.gfpganv1_clean_arch, facexlib.detection.retinaface\n"
            "from PIL import Image, ImageFile\n"
            "print(Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.split()[-2:] == [str(PILLOW_DEFAULT_MAX_PIXELS), "False"]
    assert Image.MAX_IMAGE_PIXELS == PILLOW_DEFAULT_MAX_PIXELS and ImageFile.LOAD_TRUNCATED_IMAGES is False
