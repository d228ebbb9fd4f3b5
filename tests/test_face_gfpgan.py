"""GFPGAN comparison restorer: optional, its weights cannot be downloaded here, so only the
"unavailable" and "wrong file" paths are tested (both fail before gfpgan is imported)."""
import pytest
import torch

from resshift.face import GFPGAN_WEIGHTS, gfpgan_restorer
from resshift.weights import WeightsUnavailable


@pytest.fixture
def empty_weight_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("RESSHIFT_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("RESSHIFT_CACHE_DIR", str(tmp_path / "cache"))


def test_missing_weights_file_is_a_clear_error(tmp_path):
    missing = tmp_path / "GFPGANv1.4.pth"
    with pytest.raises(WeightsUnavailable, match="does not exist") as info:
        gfpgan_restorer(missing)
    assert str(missing) in str(info.value) and "GFPGANv1.4.pth" in str(info.value)


def test_no_weights_and_no_downloads_names_the_url(empty_weight_folders):
    with pytest.raises(WeightsUnavailable, match="downloads are off") as info:
        gfpgan_restorer(allow_download=False)
    assert GFPGAN_WEIGHTS.url in str(info.value)
    assert GFPGAN_WEIGHTS.url.endswith("/v1.3.0/GFPGANv1.4.pth")


def test_a_file_that_is_not_a_gfpgan_checkpoint_is_rejected(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}}, path)
    with pytest.raises(ValueError, match="not a GFPGAN checkpoint"):
        gfpgan_restorer(path)
