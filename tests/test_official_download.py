"""The official models' whole path on a fresh machine: download (from a mirror standing in for the
release) -> check against the layout -> load -> restore, through the studio's API and the CLI.

A local HTTP server serves checkpoints of the released architectures in the official format
(random weights, the official key names and wrappers: realsr-v3 under `state_dict` with DDP's
`module.` prefix, SinSR's as a bare state dict, the VQ autoencoder under `state_dict`), so every
byte a user's download would go through is exercised; only the numbers differ."""
import functools
import http.server
import threading
from pathlib import Path

import pytest
import torch
from gradio_client import Client, handle_file
from PIL import Image

from resshift.catalog import find_model
from resshift.loader import build_networks
from resshift.manager import ModelManager

from tests.helpers import DATA, run_cli, serve_studio

pytestmark = pytest.mark.slow
REAL = DATA / "images" / "realsr_canon006_crop.png"


class _Recording(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # quiet; requests are recorded instead
        self.server.paths.append(self.path)


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    """A mirror of the releases with realsr-v3, SinSR, RSD (its EMA state dict, flat, with DDP's
    `module.` prefix) and the VQ-f4 autoencoder."""
    folder = tmp_path_factory.mktemp("release")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        unet, vq = build_networks(find_model("realsr-v3"))  # SinSR shares the architecture
    state = unet.state_dict()
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}},
               folder / "resshift_realsrx4_s4_v3.pth")
    torch.save({k: v.clone() for k, v in state.items()}, folder / "SinSR_v1.pth")
    torch.save({"state_dict": vq.state_dict()}, folder / "autoencoder_vq_f4.pth")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        rsd, _ = build_networks(find_model("rsd"))  # SinSR's network, one input plane wider
    torch.save({f"module.{k}": v for k, v in rsd.state_dict().items()}, folder / "rsd_ema_model_2800.pth")
    del rsd
    # a wrong file under the face model's name (an SR network: 3 channels where faceir has 8)
    (folder / "resshift_faceir_s4.pth").hardlink_to(folder / "resshift_realsrx4_s4_v3.pth")
    del unet, vq, state
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_Recording, directory=str(folder)))
    server.paths = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/", server.paths
    finally:
        server.shutdown()


@pytest.fixture
def photo(tmp_path) -> Path:
    path = tmp_path / "canon.png"
    Image.open(REAL).convert("RGB").crop((0, 0, 48, 40)).save(path)
    return path


def test_the_studio_downloads_loads_and_runs_the_official_models(mirror, photo, tmp_path, monkeypatch):
    url, requests = mirror
    monkeypatch.setenv("RESSHIFT_CACHE_DIR", str(tmp_path / "cache"))
    manager = ModelManager(device="cpu", allow_download=True, mirror=url, max_loaded=2)
    with serve_studio(manager, files_root=tmp_path / "files") as demo:
        client = Client(demo.local_url, verbose=False)
        for model, steps in (("realsr-v3", 4), ("sinsr", 1), ("rsd", 1)):
            _, _, png, facts = client.predict(handle_file(str(photo)), model, steps, 2.0, 3,
                                              api_name="/super_resolve")
            assert Image.open(png).size == (192, 160) and facts["model"] == model and facts["steps"] == steps
        # the studio compares ResShift with its two one-step distillations side by side, each at its own steps
        gallery, _, _, table, _ = client.predict(handle_file(str(photo)), "realsr-v3", 4, 2.0, "3", "bicubic",
                                                 "auto", "none", "models", "realsr-v3, rsd, sinsr", 4,
                                                 api_name="/compare_sr")
        assert [item["caption"].split(" · ")[0] for item in gallery] == ["realsr-v3", "rsd", "sinsr"]
        assert [(row["model"], row["steps"]) for row in table] == [("realsr-v3", 4), ("rsd", 1), ("sinsr", 1)]
    fetched = sorted(p for p in requests if p.endswith(".pth"))
    assert fetched == ["/SinSR_v1.pth", "/autoencoder_vq_f4.pth", "/resshift_realsrx4_s4_v3.pth",
                       "/rsd_ema_model_2800.pth"]  # once each
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [
        "SinSR_v1.pth", "autoencoder_vq_f4.pth", "resshift_realsrx4_s4_v3.pth", "rsd_ema_model_2800.pth"]


def test_the_cli_downloads_through_the_mirror_flag(mirror, photo, tmp_path):
    url, _ = mirror
    out = tmp_path / "canon_x4.png"
    res = run_cli("sr", str(photo), "-o", str(out), "--model", "sinsr", "--weights-mirror", url, "--device", "cpu",
                  "-q", env={"RESSHIFT_CACHE_DIR": str(tmp_path / "cache"), "RESSHIFT_OFFLINE": "0"}, timeout=600)
    assert res.returncode == 0, res.stderr
    assert Image.open(out).size == (192, 160)
    assert '"steps": 1' in res.stdout and '"model": "sinsr"' in res.stdout
    assert (tmp_path / "cache" / "SinSR_v1.pth").is_file()


def test_the_cli_runs_rsd_from_the_mirror_as_sinsrs_one_step_sampler_with_its_noise_plane(mirror, photo, tmp_path,
                                                                                        monkeypatch):
    """`sr --model rsd --weights-mirror URL` gives what SinSR's one-step sampler gives with RSD's
    widened input and the noise of the seed (the usual draw, then the plane): >= 45 dB."""
    import numpy as np

    from resshift.media.image import from_model_output
    from resshift.loader import load_model
    from resshift.pipelines import RestoreOptions
    from resshift.pipelines.restore import run_model

    url, _ = mirror
    out, cache = tmp_path / "canon_rsd.png", tmp_path / "cache"
    res = run_cli("sr", str(photo), "-o", str(out), "--model", "rsd", "--weights-mirror", url, "--device", "cpu",
                  "--seed", "5", "-q", env={"RESSHIFT_CACHE_DIR": str(cache), "RESSHIFT_OFFLINE": "0"}, timeout=600)
    assert res.returncode == 0, res.stderr
    assert '"steps": 1' in res.stdout and '"model": "rsd"' in res.stdout
    monkeypatch.setenv("RESSHIFT_CACHE_DIR", str(cache))
    model = load_model(find_model("rsd"), allow_download=False)  # the files the CLI downloaded
    lq = torch.from_numpy(np.asarray(Image.open(photo), dtype=np.float32) / 127.5 - 1).permute(2, 0, 1)[None]
    expected = from_model_output(run_model(model, lq, RestoreOptions(seed=5)).image.clamp(-1, 1))
    got = np.asarray(Image.open(out), dtype=np.float64)
    mse = ((got - expected.astype(np.float64)) ** 2).mean()
    assert got.shape == (160, 192, 3) and (mse == 0 or 10 * np.log10(255 ** 2 / mse) >= 45)


def test_a_download_of_the_wrong_layout_never_enters_the_cache(mirror, photo, tmp_path):
    """The mirror serves realsr-v3's file under the face model's name: the layout check refuses it."""
    url, _ = mirror
    res = run_cli("face", str(photo), "-o", str(tmp_path / "o.png"), "--model", "faceir", "--aligned",
                  "--weights-mirror", url, "--device", "cpu",
                  env={"RESSHIFT_CACHE_DIR": str(tmp_path / "cache"), "RESSHIFT_OFFLINE": "0"}, timeout=600)
    assert res.returncode == 2 and "resshift_faceir_s4.pth" in res.stderr, res.stderr
    assert "is not a valid" in res.stderr and "nothing was saved" in res.stderr
    assert "input_blocks.0.0.weight" in res.stderr  # the mismatch is named
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())
