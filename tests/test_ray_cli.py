"""``python -m resshift ... --ray``: a folder restored on Ray Data (a local Ray with two CPU actors,
and a cluster the command joins) gives the single-process CLI's files, byte for byte; a rerun
redoes only what is missing; failures are listed as the CLI lists them."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from resshift.cli.cluster import Layout, plan_layout

from tests.helpers import DATA, ROOT, write_tiny_model

ray = pytest.importorskip("ray", reason='the Ray runner needs ray[data] (requirements-test.txt)')

REAL = DATA / "images" / "realsr_canon006_crop.png"


def _cli(*args: str, threads: int | None = None) -> subprocess.CompletedProcess:
    """``python -m resshift ARGS`` (``threads``: torch's CPU threads, through OMP_NUM_THREADS)."""
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)
    return subprocess.run([sys.executable, "-m", "resshift", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=env)


def _folder(path: Path, n: int, size=(40, 32)) -> Path:
    path.mkdir()
    src = Image.open(REAL).convert("RGB")
    for i in range(n):
        src.crop((9 * i, 5 * i, 9 * i + size[0], 5 * i + size[1])).save(path / f"img{i}.png")
    return path


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _skipped(stderr: str) -> list[str]:
    return sorted(line for line in stderr.splitlines() if line.startswith("skipped "))


def _results(stdout: str) -> dict[str, str]:
    """{input: output} from the JSON lines on stdout (every line is one)."""
    return {r["input"]: r["output"] for r in map(json.loads, stdout.splitlines())}


def test_a_local_ray_with_two_cpu_actors_gives_the_cli_bytes(tmp_path):
    inputs = _folder(tmp_path / "in", 4)
    (inputs / "broken.png").write_bytes(b"not an image")
    (inputs / "notes.txt").write_text("ignored, as by the CLI")
    args = ["sr", str(inputs), "--model", "lite-sr", "--offline", "--seed", "5", "--steps", "2"]
    # each of the two actors gets half this machine's CPUs, and as many torch threads
    threads = max(1, len(os.sched_getaffinity(0)) // 2)
    single = _cli(*args, "-o", str(tmp_path / "cli"), "-q", threads=threads)
    on_ray = _cli(*args, "-o", str(tmp_path / "ray"), "--ray", "--ray-actors", "2")
    assert single.returncode == on_ray.returncode == 1, on_ray.stderr[-3000:]
    assert "Ray started in" in on_ray.stderr and f"2 cpu actor(s), {threads} CPU(s) each" in on_ray.stderr
    # a normal local run: no error line (Ray's actor-restart notice), no notice that Ray turned on tokens
    assert not re.search(r"^\[[^\]]* E |ERROR|Token authentication|Deprecat", on_ray.stderr, re.M), on_ray.stderr
    cli_files, ray_files = _files(tmp_path / "cli"), _files(tmp_path / "ray")
    assert sorted(ray_files) == ["img0.png", "img1.png", "img2.png", "img3.png"]
    assert ray_files == cli_files  # the same bytes
    assert Image.open(tmp_path / "ray" / "img0.png").size == (160, 128)
    modes = {(tmp_path / d / "img0.png").stat().st_mode for d in ("cli", "ray")}
    assert len(modes) == 1  # written atomically, yet with the permissions of a plain save
    assert _results(on_ray.stdout) == {str(inputs / n): str(tmp_path / "ray" / n) for n in ray_files}
    assert _results(single.stdout) == {str(inputs / n): str(tmp_path / "cli" / n) for n in cli_files}
    assert _skipped(on_ray.stderr) == _skipped(single.stderr) == [
        "skipped broken.png: the file is not an image this server can read (supported: PNG, JPEG, WebP, BMP, "
        "TIFF, GIF)"]
    assert on_ray.stderr.rstrip().endswith("1 of 5 inputs failed")


@pytest.fixture(scope="module")
def cluster():
    """A Ray cluster of 2 CPUs started by this process; the CLI joins it by its address."""
    saved = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"  # Ray 2.60 joins only when both sides agree on the mode
    context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield context.address_info["gcs_address"]
    finally:
        ray.shutdown()
        if saved is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = saved


def test_joining_a_cluster_inpaints_with_masks_and_a_rerun_redoes_only_what_is_missing(tmp_path, cluster):
    inputs = _folder(tmp_path / "in", 3, size=(48, 48))
    for i in (0, 1):  # img2 has no mask
        mask = np.zeros((48, 48), np.uint8)
        mask[8 + 4 * i:30, 10:40] = 255
        Image.fromarray(mask).save(inputs / f"img{i}_mask.png")
    args = ["inpaint", str(inputs), "--mask", str(inputs), "--model", "lite-inpaint", "--offline", "--seed", "9"]
    single = _cli(*args, "-o", str(tmp_path / "cli"), "-q", threads=1)  # 2 CPUs, 2 actors: 1 thread each
    on_ray = _cli(*args, "-o", str(tmp_path / "ray"), "--ray", cluster, "--ray-actors", "2")
    assert single.returncode == on_ray.returncode == 1, on_ray.stderr[-3000:]
    assert "Ray joined in" in on_ray.stderr
    assert _files(tmp_path / "ray") == _files(tmp_path / "cli")
    assert sorted(_files(tmp_path / "ray")) == ["img0.png", "img1.png"]
    assert _skipped(on_ray.stderr) == _skipped(single.stderr)
    assert _skipped(on_ray.stderr)[0].startswith("skipped img2.png: no mask for img2.png")
    # a rerun keeps what exists and makes what is missing
    kept = tmp_path / "ray" / "img1.png"
    before = kept.stat().st_mtime_ns
    (tmp_path / "ray" / "img0.png").unlink()
    again = _cli(*args, "-o", str(tmp_path / "ray"), "--ray", cluster, "--ray-actors", "2", "-q")
    assert again.returncode == 1
    assert "1 of 3 outputs already exist and are kept" in again.stderr
    assert _results(again.stdout) == {str(inputs / "img0.png"): str(tmp_path / "ray" / "img0.png")}
    assert kept.stat().st_mtime_ns == before
    assert _files(tmp_path / "ray") == _files(tmp_path / "cli")
    assert not [p for p in (tmp_path / "ray").iterdir() if p.name.startswith(".")]  # no temporary file left


def test_a_model_that_cannot_load_is_one_error_line(tmp_path, cluster):
    spec, _ = write_tiny_model(tmp_path, "sr")
    inputs = _folder(tmp_path / "in", 2)
    res = _cli("sr", str(inputs), "-o", str(tmp_path / "out"), "--model-spec", str(spec), "--weights-dir",
               str(tmp_path / "empty"), "--offline", "--ray", cluster, "-q")
    assert res.returncode == 2
    assert "error: cannot load model 'tiny-sr'" in res.stderr and "tiny-sr-unet.safetensors" in res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_without_ray_installed_the_cli_says_how_to_get_it(tmp_path):
    code = ("import sys; sys.modules['ray'] = None  # as if not installed\n"
            "from resshift.cli import main; raise SystemExit(main(sys.argv[1:]))")
    res = subprocess.run([sys.executable, "-c", code, "sr", str(REAL), "-o", str(tmp_path / "o.png"), "--ray"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2
    assert res.stderr.strip().endswith('the --ray runner needs Ray, which is not installed: pip install "ray[data]"')
    assert not (tmp_path / "o.png").exists()


def test_the_actor_layout_follows_the_cluster():
    def node(cpus, gpus=0):
        return {"Alive": True, "Resources": {"CPU": cpus, **({"GPU": gpus} if gpus else {})}}

    two_gpus = [node(8, 1), node(8, 1)]
    assert plan_layout({"CPU": 16, "GPU": 2}, two_gpus, None, None) == Layout(actors=2, cpus=1, gpus=1)
    assert plan_layout({"CPU": 16, "GPU": 2}, two_gpus, "cpu", None) == Layout(actors=2, cpus=8, gpus=0)
    assert plan_layout({"CPU": 2}, [node(2)], None, None) == Layout(actors=1, cpus=2, gpus=0)
    assert plan_layout({"CPU": 2}, [node(2)], "cpu", 2) == Layout(actors=2, cpus=1, gpus=0)
    assert plan_layout({"CPU": 12}, [node(4), node(8)], None, 6) == Layout(actors=6, cpus=2, gpus=0)
    with pytest.raises(ValueError, match="--device cuda: the Ray cluster has no GPUs"):
        plan_layout({"CPU": 2}, [node(2)], "cuda", None)
