"""What a first-time user tripped over in the studio's and the CLI's output: the start-up lines,
OpenCV's log, the CLI's facts lines."""
import json
import os
import subprocess
import sys

import numpy as np

from resshift.face.detect import YuNetDetector

from tests.helpers import DATA, ROOT, run_cli, write_tiny_model


def test_startup_lines_give_this_apps_advice(tmp_path):
    """After 'Running on local URL' the advice for a public link is --share, not Gradio's launch()."""
    env = {**os.environ, "RESSHIFT_OFFLINE": "1", "GRADIO_TEMP_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "app.py", "--host", "127.0.0.1"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        for line in proc.stdout:  # until the server says where it is, and the line after
            lines.append(line)
            if "For a temporary public link" in line or len(lines) > 400:
                break
    finally:
        proc.terminate()
        proc.wait(60)
    text = "".join(lines)
    assert "Running on local URL:  http://127.0.0.1:" in text, text
    assert "start the studio with --share" in text and "share=True" not in text


def test_whole_photo_detection_logs_nothing_from_opencv(capfd):
    photo = np.zeros((240, 320, 3), np.uint8)
    assert YuNetDetector()(photo) == []
    captured = capfd.readouterr()
    assert "setPreferableTarget" not in captured.err + captured.out


def test_cli_facts_are_json_lines_on_stdout_and_the_bar_on_stderr(tmp_path):
    spec, wdir = write_tiny_model(tmp_path, "sr")
    res = run_cli("sr", str(DATA / "images" / "realsr_canon006_crop.png"), "-o", str(tmp_path / "o.png"),
                  "--model-spec", str(spec), "--weights-dir", str(wdir), "--offline", "--steps", "1")
    assert res.returncode == 0, res.stderr
    out = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(out) == 1 and out[0]["output"] == str(tmp_path / "o.png")
    assert out[0]["input"] == str(DATA / "images" / "realsr_canon006_crop.png")
    assert out[0]["seed"] == 42  # the studio's default seed
    assert "img/s" in res.stderr or "it/s" in res.stderr or "100%" in res.stderr  # the bar


def test_the_studios_help_gives_each_limits_default():
    import app

    text = " ".join(app._parser().format_help().split())
    assert "largest upload in MB (default 20 on a CPU, 50 on a GPU; RESSHIFT_MAX_UPLOAD_MB)" in text
    assert "(default 512x512 on a CPU, 1024x1024 on a GPU; RESSHIFT_MAX_PIXELS_SR)" in text
    assert "(default 600 on a CPU, 300 on a GPU; RESSHIFT_REQUEST_TIMEOUT)" in text
