"""A sentence for every malformed value an API client sends, instead of Gradio's generic error.

Gradio checks and converts each input before the handler runs: the value's shape (a file must be
``{"path": ...}``, the editor's value a dict of files), its component's ``preprocess`` (a slider
compares the value with its range). A value that breaks there (the text "abc" for a number,
``null`` for a slider, ``[null]`` for the editor's layers, a path that was never uploaded) raises
something other than ``gr.Error``, and a client then reads only ``{"error": null}``: Gradio hides
unexpected exceptions (``show_error=False``). :class:`StudioBlocks` catches those and names the
parameter, what it must be and what came, in a sentence.

:class:`NumberSlider` passes any number on to the handler instead of checking it against the
slider's own range: the range is the model's (``RestoreOptions.resolve``, whose sentence names the
model), and a model chosen through the API may allow more steps than the page's default model.
:class:`NumberRadio` offers whole numbers and says so in the API's schema.
"""
from __future__ import annotations

import inspect
import logging
import numbers
from typing import Any, Sequence

import gradio as gr
from gradio.exceptions import Error

from studio.errors import sentence

log = logging.getLogger(__name__)

API_HINT = "see “Use via API” at the foot of the page for every parameter"
GRADIO_VALUE_ERROR = "Value: "  # how Gradio's choice and range checks begin their gr.Error


class NumberSlider(gr.Slider):
    """A slider whose value reaches the handler as the number it is (ints stay ints, NaN and out
    of range values too: the handler and the library refuse them with a sentence). Anything but a
    number is refused (:class:`StudioBlocks` names the parameter)."""

    is_template = True  # rendered by the frontend's "slider" component

    def preprocess(self, payload: Any) -> float | int:
        if isinstance(payload, bool) or not isinstance(payload, numbers.Real):
            raise TypeError(f"expected a number, got {payload!r}")
        return payload


class NumberRadio(gr.Radio):
    """Radio buttons whose choices are whole numbers (the face tab's output scale): the API schema
    says so (integers, not Gradio's strings), and a client may send the number or its text ("2")."""

    is_template = True  # rendered by the frontend's "radio" component

    def api_info(self) -> dict[str, Any]:
        return {"enum": [value for _, value in self.choices], "title": "Radio", "type": "integer"}

    def preprocess(self, payload: Any) -> Any:
        if isinstance(payload, str) and payload.strip().isdigit():
            payload = int(payload)
        return super().preprocess(payload)


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _is_file(value: Any) -> bool:
    """What a file input accepts: {"path": str, ...} (an upload's path) or {"url": str, ...}."""
    return isinstance(value, dict) and any(isinstance(value.get(k), str) and value.get(k) for k in ("path", "url"))


def _expectation(block: gr.components.Component, name: str, value: Any) -> tuple[str, Any] | None:
    """(what ``name`` must be, the part of ``value`` that is not it), or None when ``value`` has the
    shape ``block`` takes."""
    if isinstance(block, gr.ImageEditor):
        if not isinstance(value, dict):
            return f"{name} must be an object {{background, layers, composite}} of uploaded files", value
        for key in ("background", "composite"):
            if value.get(key) is not None and not _is_file(value[key]):
                return f"{name}.{key} must be an uploaded file ({{\"path\": ...}}) or null", value[key]
        layers = value.get("layers", [])
        if layers is None or not isinstance(layers, list) or not all(_is_file(v) for v in layers):
            return f"{name}.layers must be a list of uploaded files ({{\"path\": ...}})", layers
        return None
    if isinstance(block, (gr.Image, gr.File)):
        return None if value is None or _is_file(value) else \
            (f"{name} must be an uploaded file ({{\"path\": ...}} from POST /gradio_api/upload) or null", value)
    if isinstance(block, gr.Slider):
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        return None if ok else (f"{name} must be a number", value)
    if isinstance(block, (gr.Dropdown, gr.Radio)):
        choices = [v for _, v in block.choices]
        if isinstance(block, NumberRadio) and isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        return None if value in choices else (f"{name} must be one of " + ", ".join(map(repr, choices)), value)
    if isinstance(block, gr.Checkbox):
        return None if isinstance(value, bool) else (f"{name} must be true or false", value)
    if isinstance(block, gr.Textbox):
        return None if value is None or isinstance(value, (str, numbers.Real)) else (f"{name} must be a text", value)
    return None


def with_defaults(fn: Any, inputs: Sequence[Any], count: int) -> Any:
    """A request with fewer values than its event's ``count`` inputs (a client written before a
    parameter was added at the end, e.g. super_resolve's scale): the missing ones get the handler's
    defaults, today's behaviour. Any other request as it is (Gradio says what is missing)."""
    if inputs is None or len(inputs) >= count:
        return inputs
    try:
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return inputs
    missing = params[len(inputs):count]
    if len(missing) != count - len(inputs) or any(p.default is p.empty for p in missing):
        return inputs
    return [*inputs, *(p.default for p in missing)]


def parameter_names(fn: Any, count: int) -> list[str]:
    """The API names of an event's first ``count`` inputs: its handler's parameter names."""
    try:
        params = [p.name for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return [params[i] if i < len(params) else f"input {i + 1}" for i in range(count)]


def refusal(blocks: Sequence[Any], names: Sequence[str], inputs: Sequence[Any], exc: Exception) -> str:
    """The sentence for a request whose inputs Gradio could not take (``exc``): the first input
    whose value has the wrong shape, else what ``exc`` says about files, else a general one."""
    for block, name, value in zip(blocks, names, inputs):
        found = _expectation(block, name, value)
        if found is not None:
            expected, got = found
            return f"the parameter {expected}; got {_short(got)} ({API_HINT})"
    text = str(exc)
    if isinstance(exc, FileNotFoundError) or type(exc).__name__ == "InvalidPathError" or \
            "not in the upload folder" in text:
        return ("a file given to this request is not on this server (it was never uploaded, or it was "
                "removed after its run): upload it with POST /gradio_api/upload and pass the path that comes back")
    return f"the request's values could not be read ({type(exc).__name__}); {API_HINT}"


class StudioBlocks(gr.Blocks):
    """``gr.Blocks`` whose requests with malformed values get a sentence (module docstring)."""

    async def preprocess_data(self, block_fn, inputs, state, explicit_call: bool = False):
        inputs = with_defaults(block_fn.fn, inputs, len(block_fn.inputs))
        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except Error as exc:
            if not str(exc.message).startswith(GRADIO_VALUE_ERROR):
                raise  # the studio's own sentence (a component's decoding), as it is
            # Gradio's "Value: 'x' (type: <class 'str'>) is not in the list of choices: [...]": ours
            blocks = [state[b._id] if state is not None and b._id in state else b for b in block_fn.inputs]
            text = refusal(blocks, parameter_names(block_fn.fn, len(blocks)), list(inputs), exc)
            raise gr.Error(sentence(text), title="Cannot run", print_exception=False) from None
        except Exception as exc:  # noqa: BLE001 - Gradio would hide it: say what was wrong instead
            blocks = [state[b._id] if state is not None and b._id in state else b for b in block_fn.inputs]
            names = parameter_names(block_fn.fn, len(blocks))
            text = refusal(blocks, names, list(inputs), exc)
            log.info("refused malformed values for %s: %s (%s: %s)", block_fn.name, text, type(exc).__name__, exc)
            raise gr.Error(sentence(text), title="Cannot run", print_exception=False) from None
