"""Reading checkpoints without running their code, and copying them into a module.

:func:`load_state_dict` reads ``.safetensors`` with safetensors and anything else with
``torch.load(..., weights_only=True)``: a pickle that would build arbitrary objects (and so could
run code) is refused with :class:`UnsafeWeightsError`. :func:`load_into` copies a state dict into a
module the way the official ResShift loader does: every key of the module is required, extra keys
are ignored.
"""
from __future__ import annotations

import logging
import os
import pickle
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

logger = logging.getLogger(__name__)

WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model")
"""Entries that may hold the weights, tried in this order (EMA weights before raw ones)."""
PREFIXES = ("module.", "_orig_mod.")
"""Key prefixes added by DistributedDataParallel and torch.compile."""
MAX_LISTED = 20


class WeightsLoadError(Exception):
    """A checkpoint could not be read or does not fit the module."""


class UnsafeWeightsError(WeightsLoadError):
    """A checkpoint holds pickled objects other than tensors and plain containers."""


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a checkpoint into a flat ``{name: tensor}`` dict on the CPU, never unpickling code.

    If the top level is not itself a state dict (all values tensors), the first of the entries
    ``params_ema``, ``params``, ``state_dict``, ``model`` that is a mapping is used (repeatedly, for
    nested wrappers); ``params_ema`` wins over ``params`` when a file has both, as in Real-ESRGAN
    style checkpoints. Leading ``module.`` / ``_orig_mod.`` prefixes are removed from the keys.
    Tensors keep their stored dtype. Raises :class:`UnsafeWeightsError` for a pickle that needs
    anything beyond tensors and plain containers, :class:`WeightsLoadError` otherwise.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        try:
            raw: object = load_file(path, device="cpu")
        except Exception as err:  # safetensors raises its own SafetensorError
            raise WeightsLoadError(f"{path}: not a readable .safetensors file ({err})") from err
    else:
        raw = _torch_load(path)
    return _strip_prefixes(_unwrap(raw, path), path)


def _torch_load(path: Path) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        detail = re.search(r"WeightsUnpickler error:\s*(.+)", str(err))
        reason = detail.group(1).strip() if detail else str(err).strip().splitlines()[-1]
        raise UnsafeWeightsError(
            f"{path}: refused to load: it is not a plain tensor checkpoint, so unpickling it could "
            f"run arbitrary code (or the file is corrupt). torch says: {reason}. Use a "
            f".safetensors copy, or re-save the state dict from a source you trust."
        ) from None
    except (RuntimeError, EOFError) as err:
        raise WeightsLoadError(f"{path}: could not read the checkpoint (truncated or not a "
                               f"checkpoint? delete it and download it again): {err}") from err


def _is_state_dict(obj: object) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def _unwrap(obj: object, path: Path) -> Mapping[str, torch.Tensor]:
    for _ in range(4):
        if _is_state_dict(obj):
            return obj  # type: ignore[return-value]
        if not isinstance(obj, Mapping):
            break
        inner = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    summary = sorted(map(str, obj))[:MAX_LISTED] if isinstance(obj, Mapping) else type(obj).__name__
    raise WeightsLoadError(f"{path}: no state dict found (a mapping of names to tensors, possibly "
                           f"under one of {WRAPPER_KEYS}); top level: {summary}")


def _strip_prefixes(state: Mapping[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        name = key
        while name.startswith(PREFIXES):
            name = name.split(".", 1)[1]
        if name in out:
            raise WeightsLoadError(f"{path}: key {key!r} collides with {name!r} after removing "
                                   f"the prefixes {PREFIXES}")
        out[name] = value
    return out


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    more = len(items) - MAX_LISTED
    return f"{shown}, ... and {more} more" if more > 0 else shown


def load_into(module: nn.Module, state_dict: Mapping[str, torch.Tensor], *,
              strict_extra: bool = False, name: str = "model") -> tuple[str, ...]:
    """Copy ``state_dict`` into ``module`` in place; return the ignored extra keys (sorted).

    Every parameter and persistent buffer of ``module`` must be present with the same shape;
    floating tensors are cast to the dtype of the module's tensor (a float16 checkpoint loads into
    a float32 module) and copied to its device. Keys the module does not have are ignored (logged
    at debug), or refused when ``strict_extra``. Raises :class:`WeightsLoadError` listing every
    missing, mis-shaped (and, if strict, extra) key, the first :data:`MAX_LISTED` of each.
    """
    expected = module.state_dict()
    missing = sorted(k for k in expected if k not in state_dict)
    extra = sorted(k for k in state_dict if k not in expected)
    mismatched = sorted(
        f"{k} (checkpoint {tuple(state_dict[k].shape)}, model {tuple(v.shape)})"
        for k, v in expected.items() if k in state_dict and state_dict[k].shape != v.shape)
    problems = [f"{len(missing)} missing: {_listing(missing)}"] if missing else []
    if mismatched:
        problems.append(f"{len(mismatched)} with a different shape: {_listing(mismatched)}")
    if extra and strict_extra:
        problems.append(f"{len(extra)} unexpected: {_listing(extra)}")
    if problems:
        raise WeightsLoadError(f"the checkpoint does not fit {name}: " + "; ".join(problems))
    if extra:
        logger.debug("%s: ignoring %d checkpoint keys it does not have: %s", name, len(extra),
                     _listing(extra))
    # copy_ inside load_state_dict casts each tensor to the module's dtype and device
    module.load_state_dict({k: state_dict[k] for k in expected}, strict=True)
    return tuple(extra)
