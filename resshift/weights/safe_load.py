"""Reading checkpoints without running their code, and checking them against a module.

:func:`load_state_dict` reads ``.safetensors`` with safetensors and anything else with
``torch.load(..., weights_only=True)``: a pickle that would build arbitrary objects (and so could
run code) is refused with :class:`UnsafeWeightsError`; every other way a file can fail to be a
checkpoint (empty, truncated, random bytes, an HTML page or a Git LFS pointer saved under the
weight's name, a bad safetensors header, entries that are not tensors) is a
:class:`WeightsLoadError` whose message names the file and says what it is instead.

:func:`check_layout` compares a state dict's key/shape table with a module's (or with an expected
``{key: shape}`` table) without copying anything: the one rule :func:`load_into` applies before it
copies, and what :func:`checkpoint_validator` applies to a freshly downloaded file. As the official
ResShift loader does, every key of the module is required and extra keys are ignored (or refused
with ``strict_extra``).
"""
from __future__ import annotations

import logging
import os
import pickle
import re
from collections.abc import Callable, Mapping, Sequence
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

Layout = Mapping[str, "torch.Tensor | torch.Size | Sequence[int]"]
"""A key/shape table: state-dict names mapped to tensors (their shape is used) or to shapes."""

# The weights-only unpickler's refusals that mean "this pickle asks to build objects or call
# functions" (torch/_weights_only_unpickler.py); anything else it raises means a damaged file.
# torch 2.14 words it "Trying to load unsupported GLOBAL posix.system whose module posix is blocked."
_UNSAFE = re.compile(r"GLOBAL|reduce for|Can only (?:build|create)|[Uu]nsupported (?:global|class)")


class WeightsLoadError(ValueError):
    """A checkpoint could not be read, or does not fit the module it is meant for.

    A ValueError (the file's content is wrong for its purpose), so callers that already treat bad
    files as ValueError keep working; the message always names the file when there is one."""


class UnsafeWeightsError(WeightsLoadError):
    """A checkpoint holds pickled objects other than tensors and plain containers."""


def load_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a checkpoint into a flat ``{name: tensor}`` dict on the CPU, never unpickling code.

    If the top level is not itself a state dict (all values tensors), the first of the entries
    ``params_ema``, ``params``, ``state_dict``, ``model`` that is a mapping is used (repeatedly, for
    nested wrappers); ``params_ema`` wins over ``params`` when a file has both, as in Real-ESRGAN
    style checkpoints. Leading ``module.`` / ``_orig_mod.`` prefixes are removed from the keys.
    Tensors keep their stored dtype. Raises FileNotFoundError when ``path`` is not a file,
    :class:`UnsafeWeightsError` for a pickle that needs anything beyond tensors and plain
    containers, :class:`WeightsLoadError` for anything else that is not a readable checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.suffix == ".safetensors":
        try:
            raw: object = load_file(path, device="cpu")
        except MemoryError:
            raise
        except Exception as err:  # safetensors raises its own SafetensorError (and OSError)
            raise WeightsLoadError(f"{path}: not a readable .safetensors file{_looks_like(path)} "
                                   f"({err})") from err
    else:
        raw = _torch_load(path)
    return _strip_prefixes(_unwrap(raw, path), path)


def _looks_like(path: Path) -> str:
    """A short note on what a file that is not a checkpoint seems to be ('' when nothing to say)."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError:
        return ""
    if not head:
        return ": the file is empty (0 bytes)"
    if head.startswith(b"version https://git-lfs"):
        return ": it is a Git LFS pointer, not the file itself (fetch it with `git lfs pull`)"
    if head.lstrip()[:1] == b"<":
        return (": it is an HTML/XML page, not a checkpoint (an error or login page saved under "
                "the weight's name?)")
    return ""


def _torch_load(path: Path) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        reason = _unpickler_reason(str(err))
        if _UNSAFE.search(reason):
            raise UnsafeWeightsError(
                f"{path}: refused to load: this file asks to run code when it is loaded (it is a pickle that "
                f"builds objects or calls functions, not a plain tensor checkpoint), and code from a "
                f"weight file is never run. torch says: {reason}. Use a .safetensors copy, or re-save "
                f"the state dict from a source you trust."
            ) from None
        raise _unreadable(path, reason) from None
    except MemoryError:
        raise
    except Exception as err:  # torch reports damaged files as RuntimeError, EOFError, KeyError...
        raise _unreadable(path, f"{type(err).__name__}: {err}") from err


def _unpickler_reason(message: str) -> str:
    """The line of torch's weights-only refusal that says what was refused (older torch prefixes it
    with 'WeightsUnpickler error:'; newer ones put it between paragraphs of advice), without the
    advice to allowlist it."""
    detail = re.search(r"WeightsUnpickler error:\s*(.+)", message)
    if detail:
        reason = detail.group(1)
    else:
        lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
        unsafe = [line for line in lines if _UNSAFE.search(line)]
        advice = ("Weights only load failed", "Check the documentation", "Please file an issue")
        plain = [line for line in lines if not line.startswith(advice)]
        reason = (unsafe or plain or lines or [message])[0]
    return reason.strip().split(". ", 1)[0].rstrip(".")


def _unreadable(path: Path, reason: str) -> WeightsLoadError:
    return WeightsLoadError(
        f"{path}: could not read the checkpoint{_looks_like(path)} (damaged, truncated, or not a "
        f"PyTorch checkpoint at all; delete it and download it again). torch says: {reason}")


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
    if isinstance(obj, Mapping):
        summary = str(sorted(map(str, obj))[:MAX_LISTED])
        odd = sorted(f"{k} ({type(v).__name__})" for k, v in obj.items()
                     if not isinstance(v, torch.Tensor))
        if odd and len(odd) < len(obj):  # mostly tensors: say which entries are not
            summary += f"; entries that are not tensors: {_listing(odd)}"
    else:
        summary = type(obj).__name__
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


def layout_of(module: nn.Module) -> dict[str, tuple[int, ...]]:
    """A module's key/shape table: every parameter and persistent buffer. Works on a module built
    on the ``meta`` device, so a large model's layout costs no memory."""
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def _shapes(expected: nn.Module | Layout) -> dict[str, tuple[int, ...]]:
    if isinstance(expected, nn.Module):
        return layout_of(expected)
    return {k: tuple(v.shape) if isinstance(v, torch.Tensor) else tuple(v)
            for k, v in expected.items()}


def check_layout(state_dict: Mapping[str, torch.Tensor], expected: nn.Module | Layout, *,
                 name: str = "model", strict_extra: bool = False,
                 source: str | os.PathLike | None = None) -> tuple[str, ...]:
    """Check that ``state_dict`` fits ``expected`` (a module, or a ``{key: shape or tensor}``
    table); copy nothing; return the checkpoint's extra keys (sorted).

    Every key of ``expected`` must be present with the same shape; extra keys are allowed, or
    refused when ``strict_extra``. Raises :class:`WeightsLoadError` listing every missing,
    mis-shaped (and, if strict, extra) key, the first :data:`MAX_LISTED` of each; ``name`` is the
    module in words and ``source`` (the file) starts the message when given.
    """
    shapes = _shapes(expected)
    missing = sorted(k for k in shapes if k not in state_dict)
    extra = sorted(k for k in state_dict if k not in shapes)
    mismatched = sorted(
        f"{k} (checkpoint {tuple(state_dict[k].shape)}, model {shape})"
        for k, shape in shapes.items() if k in state_dict and tuple(state_dict[k].shape) != shape)
    problems = [f"{len(missing)} missing: {_listing(missing)}"] if missing else []
    if mismatched:
        problems.append(f"{len(mismatched)} with a different shape: {_listing(mismatched)}")
    if extra and strict_extra:
        problems.append(f"{len(extra)} unexpected: {_listing(extra)}")
    if problems:
        where = f"{source}: " if source is not None else ""
        raise WeightsLoadError(f"{where}the checkpoint does not fit {name}: " + "; ".join(problems))
    return tuple(extra)


def checkpoint_validator(expected: nn.Module | Layout, *, name: str = "model",
                         strict_extra: bool = False) -> Callable[[Path], None]:
    """``validate(path)`` for :func:`~resshift.weights.download.resolve_weight`: the file must be a
    safe, readable checkpoint whose key/shape table fits ``expected`` (see :func:`check_layout`);
    raises :class:`WeightsLoadError` (or :class:`UnsafeWeightsError`) otherwise."""

    def validate(path: Path) -> None:
        check_layout(load_state_dict(path), expected, name=name, strict_extra=strict_extra,
                     source=path)

    return validate


def load_into(module: nn.Module, state_dict: Mapping[str, torch.Tensor], *,
              strict_extra: bool = False, name: str = "model",
              source: str | os.PathLike | None = None) -> tuple[str, ...]:
    """Copy ``state_dict`` into ``module`` in place; return the ignored extra keys (sorted).

    The key/shape rule is :func:`check_layout`'s (``source``, the file, starts its message when
    given). Floating tensors are cast to the dtype of the module's tensor (a float16 checkpoint
    loads into a float32 module) and copied to its device. Keys the module does not have are
    ignored (logged at debug), or refused when ``strict_extra``.
    """
    expected = module.state_dict()
    extra = check_layout(state_dict, expected, name=name, strict_extra=strict_extra, source=source)
    if extra:
        logger.debug("%s: ignoring %d checkpoint keys it does not have: %s", name, len(extra),
                     _listing(list(extra)))
    # copy_ inside load_state_dict casts each tensor to the module's dtype and device
    module.load_state_dict({k: state_dict[k] for k in expected}, strict=True)
    return tuple(extra)
