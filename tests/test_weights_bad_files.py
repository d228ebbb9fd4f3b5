"""Every way a file can fail to be a checkpoint is the project's own error, naming the file."""
from __future__ import annotations

import io
import json
import pickle
import struct
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from resshift.loader import load_model
from resshift.weights import OFFICIAL_MODELS, WeightsUnavailable
from resshift.settings import ENV_VERIFY
from resshift.weights.safe_load import UnsafeWeightsError, WeightsLoadError, load_state_dict

FIXTURES = Path(__file__).parent / "fixtures" / "resshift_reference"


def _tiny_checkpoint() -> bytes:
    buf = io.BytesIO()
    torch.save({"conv.weight": torch.zeros(3, 2, 1, 1), "conv.bias": torch.ones(3)}, buf)
    return buf.getvalue()


def _junk(seed: int, n: int = 4096) -> bytes:
    return torch.randint(0, 256, (n,), generator=torch.Generator().manual_seed(seed),
                         dtype=torch.uint8).numpy().tobytes()


def _safetensors_with_header(header: bytes, body: bytes = b"") -> bytes:
    return struct.pack("<Q", len(header)) + header + body


BAD_FILES = {
    # name: (content, the words the message must hold)
    "junk0.pth": (_junk(0), "could not read the checkpoint"),
    "junk1.pth": (_junk(1), "could not read the checkpoint"),
    "junk2.ckpt": (_junk(2, 100), "could not read the checkpoint"),
    "text.pth": (b"hello, this is not a checkpoint\n", "KeyError"),  # torch's raw "KeyError: 101"
    "empty.pth": (b"", "the file is empty (0 bytes)"),
    "truncated.pth": (_tiny_checkpoint()[:300], "could not read the checkpoint"),
    "cut_tail.pth": (_tiny_checkpoint()[:-40], "could not read the checkpoint"),
    "page.pth": (b"<!DOCTYPE html><html><body>Sign in</body></html>", "HTML/XML page"),
    "pointer.pth": (b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\nsize 9\n",
                    "Git LFS pointer"),
    "garbage.safetensors": (b"garbage", "not a readable .safetensors file"),
    "empty.safetensors": (b"", "the file is empty (0 bytes)"),
    "huge_header.safetensors": (struct.pack("<Q", 1 << 60) + b"{}", "not a readable .safetensors"),
    "bad_json.safetensors": (_safetensors_with_header(b"{not json"), "not a readable .safetensors"),
    "past_end.safetensors": (_safetensors_with_header(json.dumps(
        {"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode(), b"\0" * 8),
        "not a readable .safetensors"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_file_that_is_not_a_checkpoint_is_a_weights_load_error(tmp_path, name):
    content, words = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(WeightsLoadError) as info:
        load_state_dict(path)
    assert type(info.value) is WeightsLoadError  # damaged, not "unsafe"
    assert str(path) in str(info.value) and words in str(info.value)
    assert isinstance(info.value, ValueError)


def test_entries_that_are_not_tensors_are_named(tmp_path):
    torch.save({"conv.weight": torch.zeros(2), "conv.bias": torch.zeros(2), "step": 7,
                "note": "x"}, tmp_path / "mixed.pth")
    with pytest.raises(WeightsLoadError, match=r"mixed\.pth: no state dict found.*entries that "
                       r"are not tensors: note \(str\), step \(int\)$"):
        load_state_dict(tmp_path / "mixed.pth")
    torch.save([torch.zeros(2)], tmp_path / "list.pth")
    with pytest.raises(WeightsLoadError, match=r"list\.pth: no state dict found.*top level: list$"):
        load_state_dict(tmp_path / "list.pth")
    torch.save({}, tmp_path / "nothing.pth")
    with pytest.raises(WeightsLoadError, match=r"nothing\.pth: no state dict found"):
        load_state_dict(tmp_path / "nothing.pth")


class _Plant:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def test_only_pickles_that_ask_for_objects_are_called_unsafe(tmp_path):
    marker = tmp_path / "marker"
    (tmp_path / "evil.pth").write_bytes(pickle.dumps({"w": _Plant(marker)}, protocol=2))
    with pytest.raises(UnsafeWeightsError, match=r"evil\.pth: refused to load.*GLOBAL exec was not an allowed global"):
        load_state_dict(tmp_path / "evil.pth")
    assert not marker.exists()
    (tmp_path / "junk.pth").write_bytes(_junk(5))
    with pytest.raises(WeightsLoadError) as info:
        load_state_dict(tmp_path / "junk.pth")
    assert not isinstance(info.value, UnsafeWeightsError)


def _tiny_official_spec(name: str):
    """An official spec (its official weight file names) with tiny networks, to load fast."""
    spec = next(s for s in OFFICIAL_MODELS if s.name == name)
    unet = json.loads((FIXTURES / "unet_sr.json").read_text())["config"]
    vq = json.loads((FIXTURES / "vq_f4.json").read_text())["config"]
    return replace(spec, unet_params=unet, first_stage_params=vq)


def test_junk_under_an_official_name_is_a_sentence_naming_the_file(tmp_path, monkeypatch):
    """The audit's case: random bytes saved as resshift_realsrx4_s4_v3.pth in the weights folder."""
    spec = _tiny_official_spec("realsr-v3")
    junk = tmp_path / spec.unet_weights.filename
    junk.write_bytes(_junk(7, 1 << 16))
    monkeypatch.setenv(ENV_VERIFY, "0")  # pins off: the file reaches the loader
    with pytest.raises(WeightsLoadError) as info:
        load_model(spec, weights_dir=tmp_path, allow_download=False)
    assert str(junk) in str(info.value) and "could not read the checkpoint" in str(info.value)
    junk.write_bytes(b"hello" * 100)  # the bytes behind the raw "KeyError: 101"
    with pytest.raises(WeightsLoadError, match="could not read the checkpoint"):
        load_model(spec, weights_dir=tmp_path, allow_download=False)
    monkeypatch.setenv(ENV_VERIFY, "1")  # pins on: refused before it is read, by its size
    with pytest.raises(WeightsUnavailable, match=rf"size mismatch for {junk}: 500 bytes, "
                       rf"expected {spec.unet_weights.size}"):
        load_model(spec, weights_dir=tmp_path, allow_download=False)


def test_a_checkpoint_of_another_layout_names_the_file_and_the_keys(tmp_path):
    spec = _tiny_official_spec("realsr-v3")
    path = tmp_path / spec.unet_weights.filename
    torch.save({"state_dict": {"module.conv.weight": torch.zeros(1)}}, path)
    with pytest.raises(WeightsLoadError, match=rf"^{path}: the checkpoint does not fit realsr-v3 "
                       r"Swin-UNet: \d+ missing: "):
        load_model(spec, unet_path=path, allow_download=False)
