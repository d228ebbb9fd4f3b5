"""Which model a task uses when none is named, and what a model comparison runs by default."""
import pytest
import torch

from resshift.catalog import best_first, comparison_models, default_model_for, runnable_comparison
from resshift.manager import ModelManager

TASKS = ("sr", "inpaint", "face")


@pytest.fixture(autouse=True)
def no_weights_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("RESSHIFT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("RESSHIFT_WEIGHTS_DIR", raising=False)


def _manager(device: str, allow_download: bool) -> ModelManager:
    manager = ModelManager(device="cpu", allow_download=allow_download)
    manager.device = torch.device(device)  # the device as the manager sees it (no CUDA needed here)
    return manager


def test_a_gpu_with_downloads_defaults_to_the_official_models():
    cuda = _manager("cuda", allow_download=True)
    assert [default_model_for(cuda, t) for t in TASKS] == ["realsr-v3", "inpaint-imagenet", "faceir"]


@pytest.mark.parametrize("device, allow_download", [("cpu", True), ("cpu", False), ("cuda", False)])
def test_a_cpu_or_an_offline_server_defaults_to_the_bundled_models(device, allow_download):
    manager = _manager(device, allow_download)
    assert [default_model_for(manager, t) for t in TASKS] == ["lite-sr", "lite-inpaint", "lite-face"]


def test_official_weights_on_disk_come_first_on_a_gpu_only(tmp_path):
    weights = tmp_path / "weights"
    weights.mkdir()
    for name in ("resshift_realsrx4_s4_v3.pth", "autoencoder_vq_f4.pth"):
        (weights / name).write_bytes(b"0")  # present (sizes are not checked in the tests: pins off)
    for device, first in (("cuda", "realsr-v3"), ("cpu", "lite-sr")):
        manager = ModelManager(device="cpu", weights_dir=weights, allow_download=False)
        manager.device = torch.device(device)
        assert best_first(manager, "sr")[0] == first


def test_model_comparisons_leave_out_what_cannot_run_here():
    assert comparison_models(_manager("cpu", allow_download=True), "sr") == ["realsr-v3", "sinsr", "lite-sr"]
    assert comparison_models(_manager("cpu", allow_download=False), "sr") == ["lite-sr"]
    assert comparison_models(_manager("cpu", allow_download=True), "face") == ["faceir", "lite-face"]


def test_the_default_comparison_runs_what_it_can_and_says_what_it_left_out():
    """Offline, the comparison set's official models are left out before any attempt and the
    bundled models that can run fill in; with downloads allowed but no connection (a mirror where
    nothing listens), the first official model is tried, and it and the others are left out with the
    reason, and the bundled models fill in."""
    offline = _manager("cpu", allow_download=False)
    off = "not on this machine, and this server does not download"
    assert runnable_comparison(offline, "sr") == (["lite-sr", "lite-sr-bicubic"], {"realsr-v3": off, "sinsr": off})
    assert runnable_comparison(offline, "inpaint") == (["lite-inpaint"], {"inpaint-imagenet": off})  # the caller
    # says that one model is too few
    unreachable = ModelManager(device="cpu", allow_download=True, mirror="http://127.0.0.1:9")
    names, left_out = runnable_comparison(unreachable, "sr")
    assert names == ["lite-sr", "lite-sr-bicubic"] and list(left_out) == ["realsr-v3", "sinsr"]
    assert left_out["realsr-v3"].startswith("resshift_realsrx4_s4_v3.pth could not be had: could not connect")
    # the first download that could not connect is not tried again for the next model
    assert left_out["sinsr"] == "SinSR_v1.pth could not be had: it is not on disk and this machine has no " \
        "connection to 127.0.0.1"


def test_a_gpu_compares_resshift_with_its_two_one_step_distillations():
    """On a GPU the default SR comparison is realsr-v3, rsd and sinsr (each at its own steps);
    realsr-v3 stays the default model."""
    cuda = _manager("cuda", allow_download=True)
    assert comparison_models(cuda, "sr") == ["realsr-v3", "rsd", "sinsr"]
    assert default_model_for(cuda, "sr") == "realsr-v3"
    assert [cuda.spec(n).default_steps for n in comparison_models(cuda, "sr")] == [4, 1, 1]
