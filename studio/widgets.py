"""The pieces every studio tab shares: model/steps/kappa/seed controls, the before/after output,
the comparison panel, and the events that tie them to a handler."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import gradio as gr

from resshift.manager import ModelManager
from resshift.pipelines.color import COLOR_FIXES
from resshift.pipelines.options import KAPPA_RANGE, random_seed

from studio import models as catalog
from studio.api_values import NumberSlider
from studio.cancel import cancellable
from studio.handlers import TILES, Studio
from studio.tool_docs import as_tool


def _steps_label(spec) -> str:
    trained = spec.diffusion.steps
    if spec.default_steps == trained:
        return f"Steps (1–{trained}; trained with {trained})"
    return f"Steps (1–{trained}; best at {spec.default_steps}, trained with {trained})"


def _kappa_label(trained: float) -> str:
    return f"Kappa κ, noise scale (trained value: {trained:g})"


@dataclass
class Controls:
    """A tab's settings and buttons."""

    model: gr.Dropdown
    steps: gr.Slider
    kappa: gr.Slider
    seed: gr.Textbox
    dice: gr.Button
    resample: gr.Radio
    tile: gr.Dropdown
    color_fix: gr.Radio
    live: gr.Checkbox
    run: gr.Button


@dataclass
class Outputs:
    """A tab's results: before/after slider, its caption, the PNG download and the run facts."""

    slider: gr.ImageSlider
    caption: gr.Markdown
    file: gr.File
    facts: gr.JSON


@dataclass
class Compare:
    """A tab's comparison panel; ``state`` holds the compared images ([{'label', 'path'}])."""

    vary: gr.Radio
    values: gr.Textbox
    go: gr.Button
    gallery: gr.Gallery
    left: gr.Dropdown
    right: gr.Dropdown
    state: gr.State


def model_settings(manager: ModelManager, name: str | None):
    """Steps and kappa sliders for a model: range 1..trained steps, defaults the model's own
    (its sampling steps: 1 for a one-step model such as SinSR; the trained kappa)."""
    if not name:
        return gr.skip(), gr.skip()
    spec = manager.spec(name)
    return (gr.update(maximum=spec.diffusion.steps, value=spec.default_steps, label=_steps_label(spec)),
            gr.update(value=spec.diffusion.kappa, label=_kappa_label(spec.diffusion.kappa)))


def controls(studio: Studio, task: str, run_label: str) -> Controls:
    manager = studio.manager
    default = catalog.default_name(manager, task)
    spec = manager.spec(default) if default else None
    steps_max, steps0, kappa0 = (spec.diffusion.steps, spec.default_steps, spec.diffusion.kappa) if spec else (4, 4, 2.0)
    fetch = "official ones download on first use" if manager.allow_download else \
        "this server does not download: models not on disk are marked"
    model = gr.Dropdown(choices=catalog.choices(manager, task), value=default, label="Model",
                        info=f"Weights load once and stay cached; {fetch}.")
    steps = NumberSlider(1, steps_max, value=steps0, step=1,
                         label=_steps_label(spec) if spec else f"Steps (1–{steps_max})")
    kappa = NumberSlider(*KAPPA_RANGE, value=kappa0, step=0.1, label=_kappa_label(kappa0))
    with gr.Row(equal_height=True):
        # text, not gr.Number: seeds up to 2^63-1 stay exact (a browser's number is a double)
        seed = gr.Textbox(value="42", max_lines=1, label="Seed (0 to 2^63-1; empty: a new one)", scale=3)
        dice = gr.Button("New random seed", scale=1, min_width=120)
    with gr.Accordion("Advanced", open=False):
        resample = gr.Radio(["bicubic", "nearest"], value="bicubic",
                            label="Show the input in the slider resized with")
        tile = gr.Dropdown(list(TILES), value="auto", label="Largest tile (input pixels)",
                           info="Smaller tiles use less memory; 'off' samples the whole image at once.")
        color_fix = gr.Radio(list(COLOR_FIXES), value="none",
                             label="Colour correction towards the input")
    with gr.Row(equal_height=True):
        live = gr.Checkbox(False, label="Live: re-run when a slider is released", scale=2)
        run = gr.Button(run_label, variant="primary", scale=1, elem_id=f"{task}-run")
    model.change(lambda name: model_settings(manager, name), model, [steps, kappa], queue=False,
                 api_visibility="private")
    dice.click(random_seed, None, seed, queue=False, api_visibility="private")
    return Controls(model, steps, kappa, seed, dice, resample, tile, color_fix, live, run)


def outputs(task: str) -> Outputs:
    slider = gr.ImageSlider(label="Before | After", type="filepath", format="png", max_height=640,
                            interactive=False, elem_id=f"{task}-slider")
    caption = gr.Markdown("", elem_id=f"{task}-caption")
    file = gr.File(label="Result as lossless PNG", interactive=False, height=90, elem_id=f"{task}-file")
    with gr.Accordion("Run facts", open=False):
        facts = gr.JSON(label="Facts")
    return Outputs(slider, caption, file, facts)


def compare_panel(studio: Studio, outputs: Outputs, extra: Sequence[tuple[str, str]] = (), *,
                  task: str = "") -> Compare:
    """extra: more (label, value) choices of what to compare, e.g. GFPGAN for faces; task: the
    prefix of its elements' ids (``sr-compare-*``)."""
    ids = f"{task}-compare" if task else None
    title = "Compare steps, kappa or models" + (" (or another method)" if extra else "") + \
        " on the same input and seed"
    with gr.Accordion(title, open=False, elem_id=ids):
        with gr.Row(equal_height=True):
            vary = gr.Radio([("steps", "steps"), ("kappa", "kappa"), ("models", "models"), *extra], value="steps",
                            label="Vary", scale=1, elem_id=ids and f"{ids}-vary")
            values = gr.Textbox("", label="Values", scale=2, elem_id=ids and f"{ids}-values",
                                placeholder="empty: 1..trained steps; kappa 0.5, 1, 2, 4; models: "
                                            "ResShift, SinSR and the bundled model")
            go = gr.Button("Run comparison", variant="secondary", scale=1, elem_id=ids and f"{ids}-run")
        gallery = gr.Gallery(label="Results", columns=4, height="auto", object_fit="contain", fit_columns=False,
                             interactive=False, elem_id=ids and f"{ids}-gallery")  # four across, each whole
        gr.Markdown("Same input and seed for every run. Click a result to put it on the slider's right, "
                    "or pick any two below.")
        with gr.Row():
            left = gr.Dropdown(label="Slider left", choices=[], interactive=True)
            right = gr.Dropdown(label="Slider right", choices=[], interactive=True)
        state = gr.State([])
    for dd in (left, right):
        dd.change(studio.pick, [left, right, state], [outputs.slider, outputs.caption, outputs.file], queue=False,
                  api_visibility="private")

    def clicked(state: list[dict], left: str, right: str, evt: gr.SelectData):
        return Studio.clicked(state, left, right, evt.index)

    gallery.select(clicked, [state, left, right], [left, right], queue=False, api_visibility="private")
    return Compare(vary, values, go, gallery, left, right, state)


def cleared() -> tuple[str, None, None]:
    """The caption, file and facts of a run that failed: empty (its message says why)."""
    return "", None, None


def wire(c: Controls, o: Outputs, cmp: Compare, inputs: list, run_fn, compare_fn, live_fn,
         names: tuple[str, str], extra_outputs: Sequence = (), extra_inputs: Sequence = ()) -> None:
    """Run, compare and live re-run events of a tab; ``names``: the run and compare API names;
    ``extra_inputs``: settings added later, last in every handler's parameters (after the
    comparison's vary and values), so that calls by position keep working.

    Every model run shares the concurrency group "model" (one at a time: one GPU) and stops when
    its request is cancelled (``cancel.py``); progress and errors show on the slider. The run and
    compare endpoints' MCP tools are named after their API names (``tool_docs.py``)."""
    run_fn, compare_fn = as_tool(cancellable(run_fn), names[0]), as_tool(cancellable(compare_fn), names[1])
    live_fn = cancellable(live_fn)
    outs = [o.slider, o.caption, o.file, o.facts, *extra_outputs]
    extra_inputs = list(extra_inputs)
    ran = c.run.click(run_fn, inputs + extra_inputs, outs, api_name=names[0], concurrency_id="model",
                      show_progress_on=o.slider)
    cmp_outs = [cmp.gallery, o.slider, o.caption, cmp.state, o.facts, o.file]  # file: the right-hand result
    compared = cmp.go.click(compare_fn, inputs + [cmp.vary, cmp.values] + extra_inputs, cmp_outs,
                            api_name=names[1], concurrency_id="model", show_progress_on=[o.slider, cmp.gallery])
    compared.then(Studio.compare_choices, cmp.state, [cmp.left, cmp.right], queue=False, api_visibility="private")
    for event in (ran, compared):  # a failed run leaves no caption or file of the run before it
        event.failure(cleared, None, [o.caption, o.file, o.facts], queue=False, api_visibility="private")
    for slider in (c.steps, c.kappa):
        slider.release(live_fn, [c.live, *inputs, *extra_inputs], outs, concurrency_id="model",
                       show_progress_on=o.slider, trigger_mode="always_last", api_visibility="private")
