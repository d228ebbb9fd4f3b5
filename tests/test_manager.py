"""The model manager keeps what is loaded when another model cannot be had."""
import pytest

from resshift.manager import ModelManager
from resshift.weights import WeightsUnavailable

from tests.helpers import tiny_model, tiny_spec, write_tiny_model


def test_a_model_that_cannot_be_had_keeps_the_loaded_one(tmp_path, monkeypatch):
    monkeypatch.setenv("RESSHIFT_CACHE_DIR", str(tmp_path / "cache"))
    loaded = tiny_model("sr", name="loaded")
    _, wdir = write_tiny_model(tmp_path, "inpaint")  # tiny-inpaint's files, in the weights folder
    manager = ModelManager([tiny_spec("sr", name="absent"), tiny_spec("inpaint")], weights_dir=wdir,
                           allow_download=False, max_loaded=1)
    manager.put(loaded)
    with pytest.raises(WeightsUnavailable, match="absent-unet.safetensors"):
        manager.get("absent")  # no weights anywhere, downloads off
    assert manager.loaded() == ["loaded"] and manager.get("loaded") is loaded
    model = manager.get("tiny-inpaint")  # one that can be had takes the place
    assert manager.loaded() == ["tiny-inpaint"] and model.spec.task == "inpaint"
