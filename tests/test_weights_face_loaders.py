"""The GFPGAN, face-parsing (ParseNet) and RetinaFace loaders read checkpoints through the safe
loader: a pickle that would run code is refused without running, a damaged file or one of another
layout is a sentence naming the file."""
from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from resshift.face import RetinaFaceDetector, gfpgan_restorer
from resshift.face.parsing import parsing_masker
from resshift.weights import UnsafeWeightsError, WeightsLoadError


class _Plant:
    """Unpickling this writes a marker file: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


LOADERS = {
    "gfpgan": lambda path: gfpgan_restorer(path, device="cpu", allow_download=False),
    "parsing": lambda path: parsing_masker(path, device="cpu", allow_download=False),
    "retinaface": lambda path: RetinaFaceDetector.from_weights(path, device="cpu"),
}
NAMES = {"gfpgan": "GFPGANv1.4.pth", "parsing": "parsing_parsenet.pth",
         "retinaface": "detection_Resnet50_Final.pth"}


@pytest.mark.parametrize("loader", sorted(LOADERS))
@pytest.mark.parametrize("wrapped", [False, True])
def test_a_pickle_that_would_run_code_is_refused_and_does_not_run(tmp_path, loader, wrapped):
    marker = tmp_path / "marker"
    path = tmp_path / NAMES[loader]
    if wrapped:  # a zip checkpoint in the official wrapper, as torch.save writes it
        torch.save({"params_ema": {"conv.weight": _Plant(marker)}}, path)
    else:
        path.write_bytes(pickle.dumps(_Plant(marker), protocol=2))
    with pytest.raises(UnsafeWeightsError, match="refused to load.*GLOBAL exec") as info:
        LOADERS[loader](path)
    assert str(path) in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize("loader", sorted(LOADERS))
def test_junk_bytes_are_a_sentence_naming_the_file(tmp_path, loader):
    path = tmp_path / NAMES[loader]
    path.write_bytes(b"hello" + bytes(range(256)) * 16)
    with pytest.raises(WeightsLoadError, match="could not read the checkpoint") as info:
        LOADERS[loader](path)
    assert not isinstance(info.value, UnsafeWeightsError) and str(path) in str(info.value)


@pytest.mark.parametrize("loader", ["parsing", "retinaface"])
def test_a_checkpoint_of_another_network_names_the_file_and_the_keys(tmp_path, loader):
    path = tmp_path / NAMES[loader]
    torch.save({"state_dict": {"conv.weight": torch.zeros(1)}}, path)
    with pytest.raises(WeightsLoadError, match=rf"^{path}: the checkpoint does not fit .*\d+ missing"
                       r".*; 1 unexpected: conv\.weight$"):
        LOADERS[loader](path)


def test_retinaface_loads_its_official_layout_with_ddp_prefixes(tmp_path):
    """The real file's keys carry DDP's module. prefix; random weights in that layout load."""
    from facexlib.detection.retinaface import RetinaFace

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = RetinaFace(network_name="resnet50", half=False, device=torch.device("cpu"))
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    torch.save(state, tmp_path / NAMES["retinaface"])
    detector = RetinaFaceDetector.from_weights(tmp_path / NAMES["retinaface"], device="cpu")
    loaded = detector.net.state_dict()
    assert len(loaded) == len(state)
    assert all(torch.equal(loaded[k.removeprefix("module.")], v) for k, v in state.items())
