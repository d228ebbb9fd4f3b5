"""The weights mirror, the check of a download before it enters the cache, and the pins switch;
against a local HTTP server."""
from __future__ import annotations

import io
import re
import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

from resshift.weights import (
    ENV_MIRROR,
    ENV_VERIFY,
    UnsafeWeightsError,
    WeightFile,
    WeightsLoadError,
    WeightsUnavailable,
    checkpoint_validator,
    download_url,
    resolve_weight,
    weight_status,
)

from tests.test_weights_download import BODY, SHA, _files, _served, isolated, server  # noqa: F401

OFFICIAL = "https://github.com/owner/repo/releases/download/v1/"


def _official(name: str = "w.pth", **pins) -> WeightFile:
    """A file whose official URL is unreachable from the tests: only a mirror can serve it."""
    return WeightFile(name, url=OFFICIAL + name, **pins)


def test_mirror_from_the_environment_replaces_the_release_prefix(server, tmp_path, monkeypatch):
    _served(server, "/mirror/w.pth")
    monkeypatch.setenv(ENV_MIRROR, server.base + "/mirror///")
    file = _official(sha256=SHA, size=len(BODY))
    assert download_url(file) == server.base + "/mirror/w.pth"
    got = resolve_weight(file, cache_dir=tmp_path / "cache")
    assert got.read_bytes() == BODY and server.hits == ["/mirror/w.pth"]
    assert _files(tmp_path / "cache") == ["w.pth"]


def test_the_mirror_argument_wins_and_empty_means_the_official_url(server, tmp_path, monkeypatch):
    _served(server, "/good/w.pth")
    _served(server, "/official/w.pth")
    monkeypatch.setenv(ENV_MIRROR, server.base + "/bad")  # 404 there
    file = WeightFile("w.pth", url=server.base + "/official/w.pth")
    resolve_weight(file, cache_dir=tmp_path / "a", mirror=server.base + "/good/")
    resolve_weight(file, cache_dir=tmp_path / "b", mirror="")
    assert server.hits == ["/good/w.pth", "/official/w.pth"]
    with pytest.raises(WeightsUnavailable, match="HTTP 404"):
        resolve_weight(file, cache_dir=tmp_path / "c")
    assert server.hits[-1] == "/bad/w.pth"


def test_a_failing_mirror_is_named_in_the_message(server, tmp_path):
    file = _official("gone.pth")
    mirror = server.base + "/m"
    with pytest.raises(WeightsUnavailable) as info:
        resolve_weight(file, cache_dir=tmp_path / "cache", mirror=mirror)
    message = str(info.value)
    assert info.value.url == mirror + "/gone.pth" and info.value.reason == "HTTP 404 Not Found"
    assert f"URL: {mirror}/gone.pth (the weights mirror, ${ENV_MIRROR}; official source " \
           f"{file.url})" in message
    with pytest.raises(WeightsUnavailable, match="downloads are off") as info:
        resolve_weight(file, cache_dir=tmp_path / "cache", mirror=mirror, allow_download=False)
    assert info.value.url == mirror + "/gone.pth"
    with pytest.raises(WeightsUnavailable, match=r"the weights mirror '/srv/weights' .* is not an "
                       r"http:// or https:// URL; for a local folder use \$RESSHIFT_WEIGHTS_DIR"):
        resolve_weight(file, cache_dir=tmp_path / "cache", mirror="/srv/weights")
    assert _files(tmp_path / "cache") == []


class Tiny(nn.Module):
    def __init__(self, width: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, width, 1)


def _checkpoint(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


class _Plant:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",))


def test_a_download_of_the_right_layout_enters_the_cache(server, tmp_path):
    data = _checkpoint({"params_ema": {f"module.{k}": v for k, v in Tiny().state_dict().items()}})
    file = _official()
    got = resolve_weight(file, cache_dir=tmp_path / "cache", mirror=_served(server, "/m/w.pth", data)
                         .rsplit("/", 1)[0], validate=checkpoint_validator(Tiny(), name="tiny"))
    assert got.read_bytes() == data and _files(tmp_path / "cache") == ["w.pth"]


@pytest.mark.parametrize("kind", ["other layout", "junk", "code"])
def test_a_download_that_is_not_this_models_file_leaves_nothing(server, tmp_path, kind):
    marker = tmp_path / "marker"
    data = {"other layout": _checkpoint(Tiny(width=5).state_dict()),
            "junk": bytes(range(256)) * 64,
            "code": pickle.dumps({"conv.weight": _Plant(marker)}, protocol=2)}[kind]
    mirror = _served(server, "/m/w.pth", data).rsplit("/", 1)[0]
    layout = {"conv.weight": (3, 2, 1, 1), "conv.bias": (3,)}  # a {key: shape} table
    with pytest.raises(WeightsUnavailable) as info:
        resolve_weight(_official(), cache_dir=tmp_path / "cache", mirror=mirror,
                       validate=checkpoint_validator(layout, name="tiny"))
    message = str(info.value)
    assert f"the file downloaded from {mirror}/w.pth is not a valid w.pth for this model" in message
    assert "the downloaded w.pth" in message and ".part" not in message  # not the temp name
    assert isinstance(info.value.__cause__, WeightsLoadError)
    expected = {"other layout": r"does not fit tiny: 2 with a different shape: conv\.bias "
                                r"\(checkpoint \(5,\), model \(3,\)\)",
                "junk": "could not read the checkpoint", "code": "refused to load"}[kind]
    assert re.search(expected, message)
    assert isinstance(info.value.__cause__, UnsafeWeightsError) == (kind == "code")
    assert not marker.exists()
    assert _files(tmp_path / "cache") == []  # neither the final name nor a temp file


def test_other_validator_errors_propagate_and_leave_nothing(server, tmp_path):
    def broken(path: Path) -> None:
        raise RuntimeError(f"validator bug on {path.name}")

    with pytest.raises(RuntimeError, match="validator bug"):
        resolve_weight(WeightFile("w.pth", url=_served(server)), cache_dir=tmp_path / "cache",
                       validate=broken)
    assert _files(tmp_path / "cache") == []


def test_files_already_on_disk_are_not_validated_again(server, tmp_path):
    calls = []
    file = WeightFile("w.pth", url=_served(server))
    for _ in range(2):
        resolve_weight(file, cache_dir=tmp_path / "cache", validate=calls.append)
    assert len(calls) == 1 and server.hits == ["/w.pth"]


def test_pins_on_and_off(server, tmp_path, monkeypatch):
    """A private mirror serving another file of the same layout: refused by the pins, accepted with
    RESSHIFT_VERIFY_WEIGHTS=0, where the layout check still runs."""
    other = _checkpoint(Tiny().state_dict())
    mirror = _served(server, "/m/w.pth", other).rsplit("/", 1)[0]
    file = _official(sha256=SHA, size=len(BODY))  # the pins of the "official" file
    validate = checkpoint_validator(Tiny(), name="tiny")
    with pytest.raises(WeightsUnavailable, match=rf"size mismatch: downloaded {len(other)} bytes"):
        resolve_weight(file, cache_dir=tmp_path / "cache", mirror=mirror, validate=validate)
    assert _files(tmp_path / "cache") == []
    monkeypatch.setenv(ENV_VERIFY, "0")
    with pytest.raises(WeightsUnavailable, match="does not fit tiny"):  # layout still checked
        resolve_weight(file, cache_dir=tmp_path / "cache", mirror=mirror,
                       validate=checkpoint_validator(Tiny(width=4), name="tiny"))
    got = resolve_weight(file, cache_dir=tmp_path / "cache", mirror=mirror, validate=validate)
    assert got.read_bytes() == other
    assert weight_status(file, cache_dir=tmp_path / "cache") == "cached"
    monkeypatch.setenv(ENV_VERIFY, "1")  # the cached copy is checked against the pins again
    assert weight_status(file, cache_dir=tmp_path / "cache") == "downloadable"
    with pytest.raises(WeightsUnavailable, match="size mismatch for .*downloads are off"):
        resolve_weight(file, cache_dir=tmp_path / "cache", allow_download=False)


def test_pins_apply_to_the_weights_folder_unless_turned_off(tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / "w.pth").write_bytes(b"random weights")
    file = _official(sha256=SHA, size=len(BODY))
    kwargs = dict(weights_dir=folder, cache_dir=tmp_path / "cache", allow_download=False)
    assert weight_status(file, **{k: kwargs[k] for k in ("weights_dir", "cache_dir")}) == \
        "downloadable"
    with pytest.raises(WeightsUnavailable, match="size mismatch for .*14 bytes"):
        resolve_weight(file, **kwargs)
    for off in ("0", "false", "OFF"):
        monkeypatch.setenv(ENV_VERIFY, off)
        assert resolve_weight(file, **kwargs) == folder / "w.pth"
    monkeypatch.setenv(ENV_VERIFY, "maybe")  # not understood: pins stay on
    with pytest.raises(WeightsUnavailable, match="size mismatch"):
        resolve_weight(file, **kwargs)


def test_the_loader_downloads_official_files_from_a_mirror_checked_against_the_spec(
        server, tmp_path, monkeypatch):
    """realsr-v3's official file names with tiny networks, served by a mirror: a wrong file is
    refused before it is cached; official-format files (wrappers, prefixes) download and load."""
    from safetensors.torch import load_file

    from resshift.loader import load_model

    from tests.test_weights_bad_files import FIXTURES, _tiny_official_spec

    spec = _tiny_official_spec("realsr-v3")
    unet = load_file(FIXTURES / "unet_sr.weights.safetensors")
    vq = load_file(FIXTURES / "vq_f4.weights.safetensors")
    unet_name, vq_name = spec.unet_weights.filename, spec.first_stage_weights.filename
    monkeypatch.setenv(ENV_MIRROR, server.base + "/mirror")
    monkeypatch.setenv(ENV_VERIFY, "0")  # tiny random files under pinned names
    monkeypatch.setenv("RESSHIFT_CACHE_DIR", str(tmp_path / "cache"))
    _served(server, f"/mirror/{unet_name}", _checkpoint({"state_dict": {"w": torch.zeros(1)}}))
    with pytest.raises(WeightsUnavailable, match=rf"the file downloaded from {server.base}/mirror/"
                       rf"{unet_name} is not a valid {unet_name} for this model \(the downloaded "
                       rf"{unet_name}: the checkpoint does not fit realsr-v3 Swin-UNet"):
        load_model(spec)
    assert _files(tmp_path / "cache") == []
    _served(server, f"/mirror/{unet_name}",
            _checkpoint({"state_dict": {f"module.{k}": v for k, v in unet.items()}}))
    _served(server, f"/mirror/{vq_name}", _checkpoint(vq))
    model = load_model(spec)
    assert _files(tmp_path / "cache") == sorted([unet_name, vq_name])
    assert all(torch.equal(model.unet.state_dict()[k], v.float()) for k, v in unet.items()
               if v.is_floating_point())
