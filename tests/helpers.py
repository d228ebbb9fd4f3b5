"""Shared test helpers: fixture loading and tiny randomly initialised models."""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from resshift.diffusion import DiffusionConfig
from resshift.loader import RestorationModel, build_networks
from resshift.manager import ModelManager
from resshift.weights.registry import ModelSpec, WeightFile

FIXTURES = Path(__file__).parent / "fixtures" / "resshift_reference"
DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).resolve().parents[1]


def fixture_json(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def fixture_tensors(name: str, kind: str) -> dict[str, torch.Tensor]:
    """kind: 'weights' (floating tensors cast to float32, as the fixtures README says) or 'io'."""
    tensors = load_file(str(FIXTURES / f"{name}.{kind}.safetensors"))
    return {k: (v.float() if v.is_floating_point() else v) for k, v in tensors.items()}


def _dummy_file(name: str) -> WeightFile:
    return WeightFile(filename=f"{name}.safetensors", url=f"http://127.0.0.1:9/{name}.safetensors")


def tiny_spec(task: str = "sr", name: str | None = None) -> ModelSpec:
    """A small ModelSpec of the official architecture (fixture configs), for fast tests."""
    if task == "sr":
        cfg = fixture_json("sample_sr")
        unet, vq, diffusion = cfg["config"], cfg["vq_config"], DiffusionConfig.from_official(cfg["diffusion"])
    elif task == "inpaint":
        cfg = fixture_json("sample_inpaint")
        unet, vq, diffusion = cfg["config"], cfg["vq_config"], DiffusionConfig.from_official(cfg["diffusion"])
    elif task == "face":
        unet = dict(fixture_json("unet_face")["config"], lq_size=128)
        vq = fixture_json("vq_f8")["config"]
        diffusion = DiffusionConfig(steps=4, kappa=2.0, min_noise_level=0.2, sf=1)
    else:
        raise ValueError(task)
    name = name or f"tiny-{task}"
    return ModelSpec(name, task, f"tiny {task} (random weights)", unet, diffusion, _dummy_file(name + "-unet"),
                     "vq", vq, _dummy_file(name + "-vq"), official=False)


def tiny_model(task: str = "sr", seed: int = 0, name: str | None = None) -> RestorationModel:
    """Randomly initialised tiny model (deterministic for a seed)."""
    spec = tiny_spec(task, name)
    with torch.random.fork_rng(devices=[]):  # deterministic initialisation, global RNG untouched
        torch.manual_seed(seed)
        unet, first = build_networks(spec)
    # the official init zeroes output layers; random fixture-like weights make outputs informative
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for pname, p in unet.named_parameters():
            base = 1.0 if pname.endswith("weight") and p.ndim == 1 else 0.0  # norm scales near 1
            p.copy_(base + torch.randn(p.shape, generator=g) * 0.05)
    return RestorationModel(spec, unet, first)


def tiny_manager(*tasks: str) -> ModelManager:
    """A CPU model manager holding only tiny models for ``tasks`` (named tiny-TASK), no downloads."""
    manager = ModelManager([], device="cpu", allow_download=False)
    for task in tasks:
        manager.put(tiny_model(task))
    return manager


@contextlib.contextmanager
def serve_studio(manager: ModelManager, limits=None, *, files_root: Path | None = None,
                 temp_dir: Path | None = None):
    """The studio on 127.0.0.1, built and launched as app.py does; yields the Blocks (``demo``) and
    closes it on exit. ``limits``: the CPU defaults unless given; ``files_root``: where results are
    written (else Gradio's cache); ``temp_dir``: Gradio's cache folder (GRADIO_TEMP_DIR)."""
    import pytest

    import app
    from studio.limits import Limits

    limits = limits or Limits.defaults("cpu")
    with pytest.MonkeyPatch.context() as mp:
        if temp_dir is not None:
            mp.setenv("GRADIO_TEMP_DIR", str(temp_dir))
        demo = app.build_demo(manager, limits=limits, files_root=files_root)
        demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True, **app.launch_kwargs(limits, demo))
        try:
            yield demo
        finally:
            demo.close()


@contextlib.contextmanager
def runs_held_until_cancelled(model: RestorationModel):
    """While open, every run of ``model`` made for a request (one with a CancelToken) waits inside
    its first Swin-UNet step until the request is cancelled. Yields a semaphore released once per
    run that got there."""
    from studio.cancel import CURRENT

    inside, holding = threading.Semaphore(0), [True]

    def hold(module, args):
        token = CURRENT.get()
        if holding[0] and token is not None and not token.cancelled:
            inside.release()
            assert token.wait(120), "the request was never cancelled"

    handle = model.unet.register_forward_pre_hook(hold)
    try:
        yield inside
    finally:
        holding[0] = False
        handle.remove()


def write_tiny_model(tmp_path: Path, task: str) -> tuple[Path, Path]:
    """A tiny random model on disk, as a user's custom model: (spec JSON path, weights folder)."""
    model = tiny_model(task)
    wdir = tmp_path / "weights"
    wdir.mkdir(exist_ok=True)
    for net, file in ((model.unet, model.spec.unet_weights), (model.first_stage, model.spec.first_stage_weights)):
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(wdir / file.filename))
    spec = tmp_path / f"{task}.json"
    spec.write_text(json.dumps(model.spec.to_dict()))
    return spec, wdir


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m resshift ARGS`` from the repository root (``env``: variables to set or override)."""
    return subprocess.run([sys.executable, "-m", "resshift", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=None if env is None else {**os.environ, **env})


def face_photo(name: str) -> np.ndarray:
    """A test photo from tests/data/faces as (H, W, 3) uint8 RGB."""
    return np.asarray(Image.open(DATA / "faces" / name).convert("RGB"))


def until(condition, seconds: float = 60.0) -> bool:
    """Wait for a condition the server makes true (polled; no fixed sleep decides the test):
    True once it holds, False after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
