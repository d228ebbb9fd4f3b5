"""The registry's size/SHA-256 pins: well formed, consistent with the architectures, and checked
unless RESSHIFT_VERIFY_WEIGHTS=0."""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from resshift.face.detect import RETINAFACE_WEIGHTS
from resshift.face.gfpgan import GFPGAN_WEIGHTS
from resshift.face.parsing import PARSENET_WEIGHTS
from resshift.weights import OFFICIAL_MODELS, WeightsUnavailable, resolve_weight, weight_status
from resshift.settings import ENV_VERIFY
from resshift.weights.download import verify_pins

FIXTURES = Path(__file__).parent / "fixtures" / "resshift_reference"
PINNED = {f.filename: f for spec in OFFICIAL_MODELS for f in spec.weight_files if f.sha256}
PINNED.update({f.filename: f for f in (GFPGAN_WEIGHTS, PARSENET_WEIGHTS, RETINAFACE_WEIGHTS)})


def test_every_pin_has_a_digest_and_a_size():
    assert {"autoencoder_vq_f4.pth", "resshift_realsrx4_s4_v3.pth", "GFPGANv1.4.pth",
            "parsing_parsenet.pth", "detection_Resnet50_Final.pth"} <= set(PINNED)
    for file in PINNED.values():
        assert re.fullmatch(r"[0-9a-f]{64}", file.sha256), file.filename
        assert file.size is not None and file.size > 1_000_000, file.filename


@pytest.mark.parametrize("filename, layout", [
    ("resshift_realsrx4_s4_v3.pth", "resshift_realsrx4_s4_v3"),
    ("autoencoder_vq_f4.pth", "autoencoder_vq_f4"),
])
def test_pinned_sizes_fit_the_official_layouts(filename, layout):
    """A float32 checkpoint of the layout takes its tensors' bytes plus under 1 % of container."""
    table = json.loads((FIXTURES / "official_checkpoint_layouts.json").read_text())[layout]
    shapes = [v if isinstance(v, list) else v["shape"] for v in table["state_dict"].values()]
    tensor_bytes = 4 * sum(math.prod(s) for s in shapes)
    assert tensor_bytes < PINNED[filename].size < 1.01 * tensor_bytes


def test_an_official_name_with_other_content_is_refused_unless_pins_are_off(tmp_path, monkeypatch):
    file = PINNED["resshift_realsrx4_s4_v3.pth"]
    (tmp_path / file.filename).write_bytes(b"random weights")
    monkeypatch.delenv(ENV_VERIFY, raising=False)
    assert verify_pins()
    assert weight_status(file, weights_dir=tmp_path, cache_dir=tmp_path / "c") == "downloadable"
    with pytest.raises(WeightsUnavailable, match=rf"size mismatch for {tmp_path / file.filename}: "
                       rf"14 bytes, expected {file.size}"):
        resolve_weight(file, weights_dir=tmp_path, cache_dir=tmp_path / "c", allow_download=False)
    monkeypatch.setenv(ENV_VERIFY, "0")
    assert not verify_pins()
    assert weight_status(file, weights_dir=tmp_path, cache_dir=tmp_path / "c") == "local"
    assert resolve_weight(file, weights_dir=tmp_path, cache_dir=tmp_path / "c",
                          allow_download=False) == tmp_path / file.filename
