"""Safe checkpoint loading: no code runs while unpickling; wrappers, prefixes, strict key checks."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from resshift.models import SwinUNet
from resshift.weights.safe_load import (
    UnsafeWeightsError,
    WeightsLoadError,
    check_layout,
    layout_of,
    load_into,
    load_state_dict,
)

FIXTURES = Path(__file__).parent / "fixtures" / "resshift_reference"


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 1)
        self.register_buffer("index", torch.arange(4))


def _tiny_state(seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"conv.weight": torch.randn(3, 2, 1, 1, generator=g),
            "conv.bias": torch.randn(3, generator=g), "index": torch.tensor([3, 2, 1, 0])}


class _Plant:
    """Unpickling this writes a marker file: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def test_malicious_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "marker"
    zipped, raw = tmp_path / "evil.pth", tmp_path / "evil_raw.ckpt"
    torch.save({"state_dict": {"conv.weight": _Plant(marker)}}, zipped)
    raw.write_bytes(pickle.dumps(_Plant(marker), protocol=2))  # protocol torch reads
    for path in (zipped, raw):
        with pytest.raises(UnsafeWeightsError, match=rf"{path.name}: refused to load.*exec") as err:
            load_state_dict(path)
        assert str(path) in str(err.value)
        assert not marker.exists()
    pickle.loads(raw.read_bytes())  # the plant is real: plain unpickling runs it
    assert marker.read_text() == "pwned"


def test_wrappers_and_prefixes_are_removed(tmp_path):
    good, other = _tiny_state(0), _tiny_state(1)
    cases = {
        "plain.pth": good,
        "wrapped.pth": {"state_dict": {f"module.{k}": v for k, v in good.items()}, "epoch": 7},
        "ema.pth": {"params": other, "params_ema": {f"_orig_mod.{k}": v for k, v in good.items()}},
        "nested.pth": {"model": {"state_dict": {f"module._orig_mod.{k}": v
                                                for k, v in good.items()}}},
    }
    for name, obj in cases.items():
        torch.save(obj, tmp_path / name)
        loaded = load_state_dict(tmp_path / name)
        assert sorted(loaded) == sorted(good), name
        assert all(torch.equal(loaded[k], good[k]) for k in good), name


def test_safetensors_and_float16_into_float32(tmp_path):
    half = {k: v.half() if v.is_floating_point() else v for k, v in _tiny_state().items()}
    save_file(half, tmp_path / "tiny.safetensors")
    module = Tiny()
    extra = load_into(module, load_state_dict(tmp_path / "tiny.safetensors"))
    assert extra == ()
    assert module.conv.weight.dtype == torch.float32
    assert torch.equal(module.conv.weight, half["conv.weight"].float())
    assert torch.equal(module.index, torch.tensor([3, 2, 1, 0]))


def test_tiny_swin_unet_loads_official_layout_and_matches_reference():
    config = json.loads((FIXTURES / "unet_sr.json").read_text())["config"]
    model = SwinUNet(**config).eval()
    state = load_state_dict(FIXTURES / "unet_sr.weights.safetensors")
    assert {v.dtype for v in state.values()} == {torch.float16, torch.int64}
    load_into(model, state, strict_extra=True, name="unet")
    assert all(p.dtype == torch.float32 for p in model.parameters())
    io = load_file(FIXTURES / "unet_sr.io.safetensors")
    with torch.no_grad():
        out = model(io["x"], io["t"], lq=io["lq"])
    assert (out - io["out"]).abs().max().item() < 1e-4


def test_missing_and_mismatched_keys_are_listed():
    state = _tiny_state()
    del state["conv.bias"]
    state["index"] = torch.arange(5)
    with pytest.raises(WeightsLoadError) as info:
        load_into(Tiny(), state, name="tiny")
    assert str(info.value) == ("the checkpoint does not fit tiny: 1 missing: conv.bias; "
                               "1 with a different shape: index (checkpoint (5,), model (4,))")


def test_long_lists_are_truncated():
    model = nn.Sequential(*[nn.Linear(1, 1) for _ in range(15)])  # 30 parameters
    expected = r"30 missing: 0\.bias, 0\.weight, .*, \.\.\. and 10 more$"
    with pytest.raises(WeightsLoadError, match=expected) as info:
        load_into(model, {})
    assert str(info.value).count(", ") == 20  # 20 names listed, then the count


def test_extra_keys_ignored_unless_strict():
    state = dict(_tiny_state(), **{"ema.extra": torch.zeros(1), "aux": torch.ones(2)})
    module = Tiny()
    assert load_into(module, state) == ("aux", "ema.extra")
    assert torch.equal(module.conv.bias, state["conv.bias"])
    with pytest.raises(WeightsLoadError, match=r"2 unexpected: aux, ema\.extra"):
        load_into(Tiny(), state, strict_extra=True)


def test_unreadable_files_are_reported(tmp_path):
    torch.save({"epoch": 3, "optimizer": {"lr": 0.1}}, tmp_path / "no_weights.pth")
    expected = r"no_weights\.pth: no state dict found.*\['epoch', 'optimizer'\]"
    with pytest.raises(WeightsLoadError, match=expected):
        load_state_dict(tmp_path / "no_weights.pth")
    torch.save(_tiny_state(), tmp_path / "whole.pth")
    (tmp_path / "cut.pth").write_bytes((tmp_path / "whole.pth").read_bytes()[:200])
    with pytest.raises(WeightsLoadError, match=r"cut\.pth: could not read the checkpoint"):
        load_state_dict(tmp_path / "cut.pth")
    (tmp_path / "bad.safetensors").write_bytes(b"garbage")
    with pytest.raises(WeightsLoadError, match=r"bad\.safetensors: not a readable \.safetensors"):
        load_state_dict(tmp_path / "bad.safetensors")
    with pytest.raises(FileNotFoundError, match="absent.pth"):
        load_state_dict(tmp_path / "absent.pth")


def test_check_layout_compares_without_copying(tmp_path):
    module = Tiny()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    state = dict(_tiny_state(3), extra=torch.zeros(1))
    assert check_layout(state, module, name="tiny") == ("extra",)
    assert all(torch.equal(module.state_dict()[k], v) for k, v in before.items())  # nothing copied
    with torch.device("meta"):  # a layout costs no memory
        meta = Tiny()
    table = layout_of(meta)
    assert table == {"conv.weight": (3, 2, 1, 1), "conv.bias": (3,), "index": (4,)}
    assert check_layout(state, table, name="tiny") == ("extra",)
    with pytest.raises(WeightsLoadError, match=r"^/x/tiny\.pth: the checkpoint does not fit tiny: "
                       r"1 unexpected: extra$"):
        check_layout(state, table, name="tiny", strict_extra=True, source="/x/tiny.pth")
    del state["index"]
    with pytest.raises(WeightsLoadError, match=r"does not fit tiny: 1 missing: index$"):
        check_layout(state, table, name="tiny")
