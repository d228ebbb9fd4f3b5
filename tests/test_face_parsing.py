"""Face-parsing paste masks (ParseNet): the mask logic, the loader (random weights; the real file is
not downloadable here) and their use when pasting."""
import numpy as np
import pytest
import torch

from resshift.face import restore_photo
from resshift.face.parsing import FACE_CLASSES, masks_from_labels, parsing_masker
from resshift.manager import ModelManager

from tests.helpers import face_photo


def test_masks_follow_face_classes_and_vanish_at_the_crop_edge():
    labels = np.zeros((1, 512, 512), np.int64)  # background
    labels[0, 150:370, 160:350] = 1  # skin
    labels[0, 40:120, 200:300] = 17  # hair: not pasted
    m = masks_from_labels(labels)[0]
    assert m.shape == (512, 512) and m.dtype == np.float32
    assert m[260, 255] > 0.99 and m[60, 250] < 0.05 and m[470, 50] == 0
    assert m[0].max() == 0 and m[:, -1].max() == 0
    assert 17 not in FACE_CLASSES and 1 in FACE_CLASSES


def test_parsing_masker_loads_parsenet_weights(tmp_path):
    from facexlib.parsing.parsenet import ParseNet

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = ParseNet(in_size=512, out_size=512, parsing_ch=19)
    torch.save(net.state_dict(), tmp_path / "parsing_parsenet.pth")
    masks = parsing_masker(weights_dir=tmp_path, allow_download=False, device="cpu")
    out = masks(np.zeros((2, 512, 512, 3), np.uint8))
    assert out.shape == (2, 512, 512) and 0 <= out.min() and out.max() <= 1
    with pytest.raises(ValueError, match="512, 512, 3"):
        masks(np.zeros((1, 64, 64, 3), np.uint8))


def test_offline_without_weights_falls_back_to_the_square(tmp_path, monkeypatch):
    monkeypatch.setenv("RESSHIFT_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("RESSHIFT_WEIGHTS_DIR", raising=False)
    assert ModelManager([], device="cpu", allow_download=False).face_masker() is None


def test_paste_uses_the_given_masks():
    photo = face_photo("portrait_deepface_img12.jpg")
    invert = lambda crops: 255 - crops  # noqa: E731 - a visible change to paste
    plain = restore_photo(photo, invert).image
    none = restore_photo(photo, invert, face_masks=lambda crops: np.zeros(crops.shape[:3], np.float32)).image
    assert np.array_equal(none, photo)  # an all-zero mask pastes nothing
    assert not np.array_equal(plain, photo)
