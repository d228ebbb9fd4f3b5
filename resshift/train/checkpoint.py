"""Training checkpoints (resume), the fp16 safetensors export of the EMA weights, and the average
of several exports (a "model soup").

A checkpoint is a plain dict saved with ``torch.save`` and read back with ``weights_only=True``:
``format``, ``step``, ``elapsed_s``, ``config`` (the TrainConfig as a dict), ``model_name``,
``unet_params``, ``model``, ``ema``, ``optimizer`` (state dicts) and ``rng`` (generator states).
Files are written to a temporary name and renamed, so a kill never leaves a half-written file.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors import safe_open
from safetensors.torch import save_file

FORMAT = "resshift-train-1"


def _atomic_path(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def _umask() -> int:
    """The process umask, read without changing it (Linux); 0o022 where it cannot be read."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def _publish(tmp: Path, path: Path) -> None:
    """Give ``tmp`` the usual permissions (0666 minus the umask) and rename it to ``path``."""
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


def save_checkpoint(path: str | Path, state: Mapping[str, Any]) -> Path:
    """Write ``state`` (see the module docstring) atomically; returns the path."""
    path = Path(path)
    tmp = _atomic_path(path)
    torch.save({"format": FORMAT, **state}, tmp)
    _publish(tmp, path)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (no code is unpickled)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path} is not a resshift training checkpoint (format {FORMAT})")
    return ckpt


def write_fp16_safetensors(state_dict: Mapping[str, torch.Tensor], out: str | Path,
                           metadata: Mapping[str, Any] | None = None) -> Path:
    """Floating tensors as float16 (others unchanged), contiguous, on the CPU; metadata values are
    stored as strings (JSON for non-strings). Written atomically."""
    out = Path(out)
    tensors = {}
    for name, value in state_dict.items():
        value = value.detach().to("cpu")
        if value.is_floating_point():
            value = value.to(torch.float16)
        tensors[name] = value.contiguous()
    meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (metadata or {}).items()}
    tmp = _atomic_path(out)
    save_file(tensors, str(tmp), metadata=meta)
    _publish(tmp, out)
    return out


def export_metadata(ckpt: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "format": "resshift-lite-unet", "model": ckpt.get("model_name", ""), "step": int(ckpt["step"]),
        "unet_params": ckpt.get("unet_params", {}), "weights": "ema",
    }


def export_fp16(ckpt: str | Path | Mapping[str, Any], out: str | Path) -> Path:
    """Write the EMA weights of a checkpoint (path or loaded dict) to ``out`` as fp16 safetensors.

    The file loads into the run's Swin-UNet with ``strict=True`` (parameters and buffers).
    """
    if not isinstance(ckpt, Mapping):
        ckpt = load_checkpoint(ckpt)
    return write_fp16_safetensors(ckpt["ema"], out, export_metadata(ckpt))


def average_exports(inputs: "list[str | Path]", out: str | Path) -> Path:
    """Write the parameter-wise mean of exported fp16 files (runs of one architecture fine-tuned
    from the same weights: a "model soup", Wortsman et al. 2022) to ``out`` as fp16 safetensors.

    The mean is taken in float32; integer tensors (index buffers) must be equal in every file. Raises
    ValueError naming the file when the files do not hold the same tensors, shapes or model.
    """
    paths = [Path(p) for p in inputs]
    if len(paths) < 2:
        raise ValueError("average: give at least two exported files")
    states, metas = [], []
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"average: {path} does not exist")
        with safe_open(str(path), "pt") as f:  # one read: the tensors and the metadata
            states.append({name: f.get_tensor(name) for name in f.keys()})
            metas.append(dict(f.metadata() or {}))
    models = [meta.get("model", "") for meta in metas]
    first = states[0]
    for path, state, model in zip(paths[1:], states[1:], models[1:]):
        if model != models[0]:
            raise ValueError(f"average: {path} holds model {model!r}, {paths[0]} holds {models[0]!r}")
        if state.keys() != first.keys():
            extra = sorted(state.keys() ^ first.keys())
            raise ValueError(f"average: {path} and {paths[0]} hold different tensors ({', '.join(extra[:3])}...)")
        for name, value in state.items():
            if value.shape != first[name].shape:
                raise ValueError(f"average: {name} is {tuple(value.shape)} in {path}, "
                                 f"{tuple(first[name].shape)} in {paths[0]}")
            if not value.is_floating_point() and not torch.equal(value, first[name]):
                raise ValueError(f"average: the integer tensor {name} differs between {path} and {paths[0]}")
    mean = {name: (torch.stack([s[name].float() for s in states]).mean(0) if value.is_floating_point() else value)
            for name, value in first.items()}
    metadata = {k: v for k, v in metas[0].items() if k != "step"}
    metadata.update(weights="average", averaged=[f"{p.parent.name}/{p.name}" for p in paths],
                    steps=[int(meta.get("step", 0)) for meta in metas])
    return write_fp16_safetensors(mean, out, metadata)
