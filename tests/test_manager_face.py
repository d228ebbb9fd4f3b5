"""The model manager owns the face pipeline's networks: they follow its device, its weights folder
and its offline rule (random weights in the official file names; the real files are not
downloadable here)."""
import numpy as np
import pytest
import torch

from resshift.face.detect import RetinaFaceDetector, YuNetDetector
from resshift.manager import ModelManager
from resshift.weights import WeightsUnavailable


def _random_parsenet(folder):
    from facexlib.parsing.parsenet import ParseNet

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = ParseNet(in_size=512, out_size=512, parsing_ch=19)
    folder.mkdir(exist_ok=True)
    torch.save(net.state_dict(), folder / "parsing_parsenet.pth")


def _random_retinaface(folder):
    from facexlib.detection.retinaface import RetinaFace

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = RetinaFace(network_name="resnet50", half=False, device="cpu")
    folder.mkdir(exist_ok=True)
    torch.save(net.state_dict(), folder / "detection_Resnet50_Final.pth")


@pytest.fixture
def no_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RESSHIFT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("RESSHIFT_WEIGHTS_DIR", raising=False)


def test_offline_without_weights_uses_the_bundled_detector_and_no_parser(no_cache, tmp_path):
    manager = ModelManager([], device="cpu", weights_dir=tmp_path / "empty", allow_download=False)
    assert isinstance(manager.face_detector(), YuNetDetector)
    assert manager.face_masker() is None
    with pytest.raises(WeightsUnavailable, match="GFPGANv1.4.pth.*downloads are off"):
        manager.gfpgan()
    assert manager.face_detector() is manager.face_detector()  # made once, then cached


def test_face_networks_come_from_the_weights_folder_onto_the_managers_device(no_cache, tmp_path, monkeypatch):
    """With CUDA reported present, the networks still go to the manager's device (cpu): the face
    helpers used to pick CUDA whenever it was there."""
    weights = tmp_path / "weights"
    _random_parsenet(weights)
    _random_retinaface(weights)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    manager = ModelManager([], device="cpu", weights_dir=weights, allow_download=False)
    detector = manager.face_detector()
    assert isinstance(detector, RetinaFaceDetector)
    assert {p.device.type for p in detector.net.parameters()} == {"cpu"}
    masks = manager.face_masker()
    out = masks(np.zeros((1, 512, 512, 3), np.uint8))
    assert out.shape == (1, 512, 512)
    assert {"<face detector>", "<face parser>"} <= set(manager.loaded())


def test_face_networks_have_a_cache_of_their_own(no_cache, tmp_path):
    """The face helpers never evict a restoration model (nor count toward max_loaded)."""
    weights = tmp_path / "weights"
    _random_parsenet(weights)
    manager = ModelManager([], device="cpu", weights_dir=weights, allow_download=False, max_loaded=1)
    model = object()
    manager._loaded["a-model"] = model  # a restoration model in its one place
    manager.face_masker()
    assert manager.loaded() == ["a-model", "<face parser>"]
    manager.face_detector()  # YuNet joins the helpers
    assert manager.loaded() == ["a-model", "<face parser>", "<face detector> yunet"]