"""The studio's event handlers: read the inputs, check limits, run the model jobs, write results.

A :class:`Studio` holds what requests share (the model cache, the limits, the folder Gradio serves
files from) and nothing per request. Each handler returns values for the UI's outputs; any failure
becomes a ``gr.Error`` with a sentence (see errors.py). The GPU work of every handler goes through
one function, ``Studio.run_jobs``, decorated with ``spaces.GPU`` so a ZeroGPU Space gets a GPU for
exactly that part (off Spaces the decorator returns the function unchanged).
"""
from __future__ import annotations

import html
import logging
import math
import numbers
import os
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import gradio as gr
import numpy as np

from resshift.catalog import default_model_for, ready_models, runnable_comparison
from resshift.errors import InvalidRequest
from resshift.media.image import to_uint8
from resshift.manager import ModelManager
from resshift.pipelines import (DecodedImage, InvalidMaskError, PhotoOptions, RestoreOptions, check_task,
                                decode_mask)
from resshift.pipelines.registry import TASK_REGISTRY

from studio import images
from studio.cancel import cancel_session, current_token
from studio.errors import friendly_errors
from studio.input_files import InputFiles
from studio.jobs import GFPGAN_LABEL, Job, run_jobs
from studio.limits import Limits
from studio.work import check_jobs, gpu_seconds

log = logging.getLogger(__name__)

TILES = {"auto": None, "off": 0, "128": 128, "256": 256, "512": 512}
FACE_MODES = ("aligned", "photo")
KAPPA_PRESETS = (0.5, 1.0, 2.0, 4.0)
NO_IMAGE = "Add an image first: drop a file on the input, paste one, or click it to browse"
BLANK_CANVAS = ("Add an image first: the canvas is blank (one flat colour, nothing to repaint from). "
                "If you added a file and it does not show, your browser could not open it as an image")
GONE = ("The file {name} is no longer on the server: uploads that no run uses are removed after a while, "
        "and every file after an hour. Add the file again and run")
NO_STROKE = ("Nothing to repaint: paint over the area to fill with the brush (or upload a mask), "
             "then press Inpaint")


def gpu_decorator(duration: Callable[..., int] | int) -> Callable:
    """``spaces.GPU(duration=...)``; without the ``spaces`` package, the identity."""
    try:
        import spaces
    except ImportError:
        return lambda fn: fn
    return spaces.GPU(duration=duration)


# ------------------------------------------------------------------ parsing what the page or the API sent
# The studio only turns the values of its fields (numbers from sliders, text from the API) into the
# library's types; what a value may be is the library's rule (RestoreOptions, PhotoOptions), whose
# InvalidRequest message the page shows.
def parse_number(value: Any, name: str) -> float:
    """A number from a slider or an API value (its range is the library's to check)."""
    if isinstance(value, bool) or value is None:
        raise InvalidRequest(f"{name} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidRequest(f"{name} must be a number, got {value!r}") from None


def parse_whole(value: Any, name: str) -> int:
    """A whole number from a slider (floats are rounded) or an API value."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    number = parse_number(value, name)
    if not math.isfinite(number):
        raise InvalidRequest(f"{name} must be a number, got {value!r}")
    if abs(number) >= 2 ** 53:  # past 2^53 a float is no exact whole number
        raise InvalidRequest(f"{name} must be a whole number, got {value!r}")
    return int(round(number))


def parse_seed(value: Any) -> int | None:
    """The seed field: empty = a fresh seed (None); whole numbers exact up to 2^63-1 (from text or
    an integer; a float is taken only when it is a whole number)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        text = value.strip().removesuffix(".0")
        if text.lstrip("-").isdigit():
            return int(text)
    elif isinstance(value, float) and value.is_integer():
        return int(value)
    raise InvalidRequest(f"the seed must be a whole number from 0 to 2^63-1; got {value!r}")


def _check_resample(resample: str) -> None:
    if resample not in images.RESAMPLE:
        raise InvalidRequest(f"resample must be one of {', '.join(images.RESAMPLE)}; got {resample!r}")


class Studio:
    """Shared state of the app: the model manager, the limits and the output folder."""

    def __init__(self, manager: ModelManager, limits: Limits, *, files_root: str | Path | None = None):
        self.manager = manager
        self.limits = limits
        self.files_root = Path(files_root) if files_root else Path(gr.utils.get_upload_folder())
        self.run_jobs = gpu_decorator(self._gpu_seconds)(self._run_jobs)
        self.inputs = InputFiles(gr.utils.get_upload_folder)  # uploads removed once no session holds them

    def on_unload(self, request: gr.Request) -> None:
        """``demo.unload`` handler: the session's client is gone (page closed, client closed or
        killed): its runs stop as on Stop, and its input files go."""
        session = getattr(request, "session_hash", None)
        cancel_session(session)
        self.inputs.end_session(session)

    # ---------------------------------------------------------------- running models
    def _gpu_seconds(self, jobs: list[Job], progress: Any = None) -> int:
        """ZeroGPU reservation: from the jobs' estimated work (``work.gpu_seconds``), so a small
        request asks for little and gets the GPU sooner."""
        return gpu_seconds(self.manager, jobs)

    def _run_jobs(self, jobs: list[Job], progress: Any = None) -> list:
        def report(fraction: float, desc: str) -> None:
            if progress is not None:
                progress(min(max(fraction, 0.0), 1.0), desc=desc)

        return run_jobs(self.manager, jobs, report, timeout=self.limits.request_timeout, cancel=current_token())

    def run(self, jobs: list[Job], progress: Any = None) -> list:
        """Every route's way to run jobs: the work budget (work.py) checked before any model runs,
        then the job runner (one run at a time, the request timeout, cancellation)."""
        check_jobs(self.limits, self.manager, jobs)
        try:
            return self.run_jobs(jobs, progress)
        except gr.Error as exc:
            if not str(getattr(exc, "title", "") or "").startswith("ZeroGPU"):
                raise
            raise gpu_refusal(exc, self._gpu_seconds(jobs)) from None

    # ---------------------------------------------------------------- reading inputs
    def decode_upload(self, task: str, source: str | bytes, scale: int = 1, *, fit: bool = False) -> DecodedImage:
        """Decode an uploaded file once (EXIF orientation applied): refused over the upload limit
        from its size, over the pixel limits from its header, before its pixels are decoded
        (``fit``: a whole photo over them is downscaled to them instead, Limits.decode)."""
        self.limits.check_upload(len(source) if isinstance(source, bytes) else os.path.getsize(source))
        return self.limits.decode(task, source, scale, fit=fit)

    def read_upload(self, task: str, path: str | None, scale: int = 1, *,
                    hold: bool = True, fit: bool = False) -> tuple[DecodedImage, str]:
        """Decode the file at ``path``; ``hold``: it is the session's input for ``task`` (kept until
        the session sends another; a batch's images are not: they would release the page's)."""
        if not path:
            raise InvalidRequest(NO_IMAGE)
        if not os.path.isfile(path):
            raise InvalidRequest(GONE.format(name=Path(path).name))
        if hold:
            self.inputs.hold(task, [path])
        return self.decode_upload(task, path, scale, fit=fit), images.safe_stem(Path(path).name)

    def _read_array(self, task: str, arr: np.ndarray | None) -> DecodedImage:
        """The image editor's background (refused when it is the editor's blank canvas).

        With no image in it the page's editor sends its blank canvas or no background at all,
        depending on timing (Gradio's editor may send its empty first snapshot while the newest one
        is still uploading): one sentence for both."""
        if arr is None:
            raise InvalidRequest(BLANK_CANVAS)
        arr = np.asarray(arr)
        if _blank_canvas(arr):
            raise InvalidRequest(BLANK_CANVAS)
        if arr.ndim == 3 and arr.shape[2] == 4 and arr[..., 3].min() == 255:
            arr = arr[..., :3]  # the editor makes every image RGBA; opaque ones are plain RGB
        return self.limits.decode(task, arr)

    def options_for(self, model: str, steps: Any, kappa: Any, seed: Any, tile: str = "auto",
                    color_fix: str = "none", scale: Any = None) -> RestoreOptions:
        """The fields parsed into RestoreOptions, resolved against the model (its rules, its
        message); scale: the output scale (None or empty: the model's own)."""
        spec = self.manager.spec(model)
        if str(tile) not in TILES:
            raise InvalidRequest(f"tile must be one of {', '.join(TILES)}; got {tile!r}")
        options = RestoreOptions(steps=None if steps is None else parse_whole(steps, "steps"),
                                 kappa=None if kappa is None else parse_number(kappa, "kappa"),
                                 seed=parse_seed(seed), tile=TILES[str(tile)], color_fix=color_fix or "none",
                                 scale=None if scale in (None, "", 0) else parse_whole(scale, "scale"))
        return options.resolve(spec)

    def check_model(self, model: str, task: str) -> None:
        check_task(self.manager.spec(model), task)

    # ---------------------------------------------------------------- writing outputs
    def _outputs(self, results: list, jobs: list[Job], before: np.ndarray, stem: str,
                 resample: str, labels: list[str]) -> tuple[Path, list[tuple[Path, str]], list[dict]]:
        """Save each result as PNG in a fresh request folder: (before path, [(path, label)], facts)."""
        folder = images.new_request_dir(self.files_root)
        out_h, out_w = results[0].image.shape[:2]
        before_img = images.before_image(before, (out_w, out_h), resample)
        # the input's colour profile on both sides, so the slider shows them in the same colours
        before_path = images.save_png(before_img, folder, f"{stem}_input", jobs[0].image.icc_profile)
        saved, facts = [], []
        for result, job, label in zip(results, jobs, labels):
            saved.append((images.save_png(result.image, folder, result_name(stem, job), result.icc_profile), label))
            facts.append(result.facts())
        return before_path, saved, facts

    @staticmethod
    def _caption(left: str, right: str) -> str:
        return f"**Left:** {html.escape(left)} &nbsp;·&nbsp; **Right:** {html.escape(right)}"

    def _single(self, jobs: list[Job], before: np.ndarray, stem: str, task: str, resample: str,
                progress: Any, before_name: str) -> tuple[tuple[str, str], str, str, dict]:
        """One run -> (slider pair, caption, PNG path, facts)."""
        _check_resample(resample)
        (result,) = self.run(jobs, progress)
        fitted = fitted_note(jobs[0].image)
        if result.message or fitted:
            gr.Info(" ".join(filter(None, (result.message, fitted))))
        o = jobs[0].options
        steps = f"{o.steps} step{'s' if o.steps != 1 else ''}"
        label = f"{jobs[0].model} · {steps} · κ {o.kappa:g} · seed {o.seed}"
        if o.scale and o.scale > 1:
            label += f" · ×{o.scale}"
        if TASK_REGISTRY[task].photo:  # what kind of face run, at what scale, and what it found
            if result.faces is None:
                label += " · aligned face"
            else:
                found = len(result.faces)
                label += f" · whole photo ×{result.scale} · {found} face{'s' if found != 1 else ''}"
        before_path, saved, facts = self._outputs([result], jobs, before, stem, resample, [label])
        pair = (str(before_path), str(saved[0][0]))
        took = f"{label} · {result.seconds:.1f} s"  # the time, as the live slider comparisons need it
        caption = self._caption(before_name, took) + (f"<br>{html.escape(fitted)}" if fitted else "")
        return pair, caption, str(saved[0][0]), facts[0]

    def _compare(self, job: Job, before: np.ndarray, stem: str, task: str, resample: str,
                 vary: str, values: str, progress: Any) -> tuple:
        """Runs over steps or kappa -> (gallery, slider pair, caption, state, facts table, PNG path).

        state: [{'label', 'path'}], the input first, for picking any two into the slider; the PNG
        offered for download is the slider's right-hand result."""
        _check_resample(resample)
        spec = self.manager.spec(job.model)
        left_out: dict[str, str] = {}  # models of the default comparison that cannot be had here, and why
        if vary == "gfpgan":  # the request refuses GFPGAN for another task than faces
            jobs = [replace(job, label=f"ResShift ({job.model})"),
                    replace(job, restorer="gfpgan", label=GFPGAN_LABEL)]
        elif vary == "models":  # each model at its own steps and kappa, the same seed and input
            if (values or "").strip():
                names = parse_models(values, self.manager, task, self.limits.max_compare)
            else:  # the library's comparison as it can run now: what cannot be had is left out, and said
                names, left_out = runnable_comparison(self.manager, task)
                names = check_models(names, self.manager, task, self.limits.max_compare, left_out)
            jobs = []
            for name in names:
                options = replace(job.options, steps=None, kappa=None, spacing=None).resolve(self.manager.spec(name))
                jobs.append(replace(job, model=name, options=options,
                                    label=f"{name} · {options.steps} step{'s' if options.steps != 1 else ''}"))
        else:
            grid = parse_values(vary, values, spec, self.limits.max_compare)
            if vary == "steps":
                jobs = [job.with_options(f"{v} step{'s' if v != 1 else ''}", steps=v) for v in grid]
            else:
                jobs = [job.with_options(f"kappa {v:g}", kappa=v) for v in grid]
        results = self.run(jobs, progress)
        labels = [f"{j.label} · {r.seconds:.1f} s" for j, r in zip(jobs, results)]
        before_path, saved, facts = self._outputs(results, jobs, before, stem, resample, labels)
        note = ("<br>Left out: " + html.escape("; ".join(f"{n} ({why})" for n, why in left_out.items()))
                if left_out else "")
        caption = self._caption(labels[0], labels[-1]) + note
        # the note goes with the input's entry: picking two results keeps it in the caption
        state = [{"label": "input", "path": str(before_path), "note": note}] + \
                [{"label": lab, "path": str(p)} for p, lab in saved]
        gallery = [(str(p), lab) for p, lab in saved]
        table = [{"run": j.label, **f} for j, f in zip(jobs, facts)]
        pair = (str(saved[0][0]), str(saved[-1][0]))
        return gallery, pair, caption, state, table, pair[1]

    @staticmethod
    def compare_choices(state: list[dict] | None):
        """The 'slider left/right' dropdowns after a comparison: first and last result."""
        names = [s["label"] for s in state or []]
        if len(names) < 3:
            return gr.skip(), gr.skip()
        return gr.update(choices=names, value=names[1]), gr.update(choices=names, value=names[-1])

    @staticmethod
    def clicked(state: list[dict] | None, left: str | None, right: str | None, index: int):
        """A click on the ``index``-th compared result -> (left, right) dropdown updates: the clicked
        result goes on the right; the left keeps a different image: what it showed, else the
        previous right-hand result, else the input (never one image on both sides)."""
        labels = [s["label"] for s in state or []]
        if not 0 <= index + 1 < len(labels):
            return gr.skip(), gr.skip()
        chosen = labels[index + 1]
        if left != chosen:
            return gr.skip(), gr.update(value=chosen)
        other = right if right not in (None, chosen) and right in labels else "input"
        return gr.update(value=other), gr.update(value=chosen)

    def pick(self, left: str, right: str, state: list[dict] | None):
        """Show two of the compared images in the slider -> (slider pair, caption, PNG path: the
        right-hand result, or the left-hand one when the input is on the right)."""
        by_label = {s["label"]: s["path"] for s in state or []}
        if left not in by_label or right not in by_label:
            return gr.skip(), gr.skip(), gr.skip()
        result = right if right != "input" else left
        download = by_label[result] if result != "input" else gr.skip()
        note = (state or [{}])[0].get("note", "")
        return (by_label[left], by_label[right]), self._caption(left, right) + note, download

    # ---------------------------------------------------------------- super-resolution
    def _prepare_sr(self, image, model, steps, kappa, seed, tile, color_fix, hold=True, scale=None):
        self.check_model(model, "sr")
        options = self.options_for(model, steps, kappa, seed, tile, color_fix, scale)
        decoded, stem = self.read_upload("sr", image, scale=options.scale, hold=hold)
        job = Job("sr", model, decoded, options)
        return job, to_uint8(decoded.rgb, decoded.alpha), stem

    def super_resolve(self, image: str | None, model: str, steps: float, kappa: float, seed: float | None,
                      resample: str = "bicubic", tile: str = "auto", color_fix: str = "none", scale: int = 4,
                      progress=gr.Progress()):
        """x4 (or x3, x2) super-resolution -> (slider: input resized | result, caption, PNG path, facts)."""
        with friendly_errors("super-resolving the image"):
            job, before, stem = self._prepare_sr(image, model, steps, kappa, seed, tile, color_fix, scale=scale)
            return self._single([job], before, stem, "sr", resample, progress, f"input ({resample})")

    def compare_sr(self, image, model, steps, kappa, seed, resample="bicubic", tile="auto",
                   color_fix="none", vary="steps", values="", scale=4, progress=gr.Progress()):
        with friendly_errors("comparing super-resolution settings"):
            job, before, stem = self._prepare_sr(image, model, steps, kappa, seed, tile, color_fix, scale=scale)
            return self._compare(job, before, stem, "sr", resample, vary, values, progress)

    # ---------------------------------------------------------------- inpainting
    def _prepare_inpaint(self, editor, mask_upload, model, steps, kappa, seed, tile, color_fix, image_name=""):
        editor = editor or {}
        self.inputs.hold("inpaint", [*editor.get("files", ()), mask_upload])
        self.check_model(model, "inpaint")
        decoded = self._read_array("inpaint", editor.get("background"))
        mask = images.editor_mask(editor.get("layers"), decoded.size)
        if mask_upload:
            self.limits.check_upload(os.path.getsize(mask_upload))
            mask |= decode_mask(mask_upload, decoded.size)
        if not mask.any():
            raise InvalidRequest(NO_STROKE)
        job = Job("inpaint", model, decoded, self.options_for(model, steps, kappa, seed, tile, color_fix),
                  mask=mask)
        rgb = to_uint8(decoded.rgb)
        # the uploaded file's name: the page's (image_name), else the editor's (CheckedImageEditor),
        # unless it is the editor's own name for its re-encoded background
        given = editor.get("name") if editor.get("name") not in (None, "background.png") else None
        stem = images.safe_stem(image_name or given)
        before = images.mask_preview(rgb, mask, dim=1.0)
        if decoded.alpha is not None:
            before = np.concatenate([before, to_uint8(decoded.alpha[..., None])], axis=2)
        return job, before, images.mask_preview(rgb, mask), stem

    def inpaint(self, editor: dict | None, mask_upload: str | None, model: str, steps: float,
                kappa: float, seed: float | None, resample: str = "bicubic", tile: str = "auto",
                color_fix: str = "none", image_name: str = "", progress=gr.Progress()):
        """Fill the painted area -> (slider: input with the mask tinted | result, caption, PNG path,
        facts, mask preview). image_name: the uploaded image's file name (names the result)."""
        with friendly_errors("inpainting the image"):
            job, before, preview, stem = self._prepare_inpaint(editor, mask_upload, model, steps, kappa, seed,
                                                               tile, color_fix, image_name)
            pair, caption, path, facts = self._single([job], before, stem, "inpaint", resample, progress,
                                                      "input, area to repaint tinted")
            return pair, caption, path, facts, preview

    def compare_inpaint(self, editor, mask_upload, model, steps, kappa, seed, resample="bicubic",
                        tile="auto", color_fix="none", vary="steps", values="", image_name="",
                        progress=gr.Progress()):
        with friendly_errors("comparing inpainting settings"):
            job, before, _, stem = self._prepare_inpaint(editor, mask_upload, model, steps, kappa, seed, tile,
                                                         color_fix, image_name)
            return self._compare(job, before, stem, "inpaint", resample, vary, values, progress)

    def preview_mask(self, editor: dict | None, mask_upload: str | None = None):
        """The mask preview while drawing (no model run); None when there is no image yet."""
        background = (editor or {}).get("background")
        if background is None:
            return None
        background = np.asarray(background)
        size = (background.shape[1], background.shape[0])
        mask = images.editor_mask((editor or {}).get("layers"), size)
        if mask_upload:
            try:
                mask |= decode_mask(mask_upload, size)
            except InvalidMaskError:
                pass  # reported when Inpaint is pressed
        return images.mask_preview(background[..., :3], mask)

    # ---------------------------------------------------------------- faces
    @staticmethod
    def photo_options(mode: str, scale, background, select, min_face_size) -> PhotoOptions | None:
        """The face tab's mode and whole-photo settings as the library's PhotoOptions (None: an
        aligned face)."""
        if mode not in FACE_MODES:
            raise InvalidRequest(f"mode must be one of {', '.join(FACE_MODES)}; got {mode!r}")
        return None if mode == "aligned" else PhotoOptions(
            scale=parse_whole(scale or 1, "scale"), background=background or "resize", select=select or "all",
            min_face_size=parse_whole(min_face_size or 0, "min face size"))

    def background_model(self, photo: PhotoOptions | None) -> str | None:
        """The SR model a whole photo's background is super-resolved with (None: resized)."""
        if photo is None or photo.background != "sr":
            return None
        sr_model = default_model_for(self.manager, "sr")
        if sr_model is None:
            raise InvalidRequest("no super-resolution model is available for the background; "
                                 "choose Background: Resize")
        return sr_model

    def _prepare_face(self, image, mode, model, steps, kappa, seed, color_fix, scale, background,
                      select, min_face_size, hold=True):
        self.check_model(model, "face")
        photo = self.photo_options(mode, scale, background, select, min_face_size)
        options = self.options_for(model, steps, kappa, seed, "auto", color_fix)
        sr_model = self.background_model(photo)
        decoded, stem = self.read_upload("face", image, scale=1 if photo is None else photo.scale, hold=hold,
                                         fit=photo is not None)  # a big photo is fitted, and said
        if photo is not None and photo.background == "sr" and photo.scale > 1:  # the whole photo goes through SR
            self.limits.check_input("sr", *decoded.size, scale=4)
        job = Job("face", model, decoded, options, photo=photo, sr_model=sr_model)
        return job, to_uint8(decoded.rgb, decoded.alpha), stem

    def restore_face(self, image: str | None, mode: str, model: str, steps: float, kappa: float,
                     seed: float | None, resample: str = "bicubic", color_fix: str = "none",
                     scale: int = 1, background: str = "resize", select: str = "all",
                     min_face_size: float = 32, progress=gr.Progress()):
        """Restore an aligned 512x512 face, or every face of a photo -> (slider, caption, PNG, facts)."""
        with friendly_errors("restoring the face"):
            job, before, stem = self._prepare_face(image, mode, model, steps, kappa, seed, color_fix,
                                                   scale, background, select, min_face_size)
            return self._single([job], before, stem, "face", resample, progress, f"input ({resample})")

    def compare_face(self, image, mode, model, steps, kappa, seed, resample="bicubic", color_fix="none",
                     scale=1, background="resize", select="all", min_face_size=32, vary="steps",
                     values="", progress=gr.Progress()):
        with friendly_errors("comparing face restoration settings"):
            job, before, stem = self._prepare_face(image, mode, model, steps, kappa, seed, color_fix,
                                                   scale, background, select, min_face_size)
            return self._compare(job, before, stem, "face", resample, vary, values, progress)

    # ---------------------------------------------------------------- live re-runs (slider released)
    def live_sr(self, live, image, model, steps, kappa, seed, resample, tile, color_fix, scale=4,
                progress=gr.Progress()):
        if not live or not image:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return self.super_resolve(image, model, steps, kappa, seed, resample, tile, color_fix, scale, progress)

    def live_inpaint(self, live, editor, mask_upload, model, steps, kappa, seed, resample, tile, color_fix,
                     image_name="", progress=gr.Progress()):
        background = (editor or {}).get("background")
        drawn = background is not None and (bool(mask_upload) or images.editor_mask(
            editor.get("layers"), (np.shape(background)[1], np.shape(background)[0])).any())
        if not live or not drawn:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return self.inpaint(editor, mask_upload, model, steps, kappa, seed, resample, tile, color_fix,
                            image_name, progress)

    def live_face(self, live, image, mode, model, steps, kappa, seed, resample, color_fix, scale, background,
                  select, min_face_size, progress=gr.Progress()):
        if not live or not image:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return self.restore_face(image, mode, model, steps, kappa, seed, resample, color_fix, scale,
                                 background, select, min_face_size, progress)


def gpu_refusal(exc: gr.Error, seconds: int) -> gr.Error:
    """ZeroGPU's refusal of a request (``spaces``: its quota, or a duration over the Space's most)
    as one sentence that says what was asked for and what to do."""
    title = str(getattr(exc, "title", ""))
    said = " ".join(str(getattr(exc, "message", exc)).split()).rstrip(". ")
    if title == "ZeroGPU illegal duration":
        text = (f"This request would need the GPU for about {seconds} s, more than this Space gives one "
                "request. Use a smaller image, fewer steps or fewer runs in a comparison")
    elif title == "ZeroGPU quota exceeded":
        text = (f"No GPU time is left for you on this Space for now (this request asked for {seconds} s): "
                f"{said}. A smaller image or fewer steps asks for less")
    else:
        text = f"The GPU could not be had for this request ({seconds} s asked for): {said}"
    return gr.Error(html.escape(text) + ".", title="GPU quota", print_exception=False)


def fitted_note(image: DecodedImage) -> str:
    """A sentence for a photo that was downscaled to the server's limit ('' for one that was not)."""
    if image.original_size is None:
        return ""
    (w0, h0), (w, h) = image.original_size, image.size
    return (f"The photo was {w0}x{h0} pixels, over this server's face-restoration limit: it was fitted "
            f"(downscaled) to {w}x{h} and restored at that size.")


def result_name(stem: str, job: Job) -> str:
    """A result's file name (:func:`run_name`; GFPGAN's without ResShift's settings)."""
    if job.restorer == "gfpgan":
        return f"{stem[:24]}_gfpgan-v1.4{_photo_suffix(job.photo)}"
    return run_name(stem, job.model, job.options, job.photo)


def run_name(stem: str, model: str, options: RestoreOptions, photo: PhotoOptions | None = None) -> str:
    """A result's file name, short enough to read in the page: the upload's name (at most 24
    characters), then the model and the settings that made it, e.g. ``group_21_lite-face_4s_k2_seed42_x2``
    (super-resolutions: ``_x`` the output scale; whole photos: ``_x`` the scale, ``_srbg`` a
    super-resolved background, the faces chosen)."""
    scale = f"_x{options.scale}" if options.scale and options.scale > 1 else ""
    return f"{stem[:24]}_{model}_{options.steps}s_k{options.kappa:g}_seed{options.seed}{scale}{_photo_suffix(photo)}"


def _photo_suffix(photo: PhotoOptions | None) -> str:
    if photo is None:
        return ""
    return f"_x{photo.scale}" + ("_srbg" if photo.background == "sr" else "") + \
        ("" if photo.select == "all" else f"_{photo.select}")


def _blank_canvas(arr: np.ndarray) -> bool:
    """With nothing uploaded (or a file the browser could not open) the image editor sends its
    blank canvas: all white, or all transparent. Other flat images are images."""
    if arr.ndim != 3 or not arr.size:
        return False
    first = arr[0, 0]
    if not (arr == first).all():
        return False
    return bool((first[:3] == 255).all() or (arr.shape[2] == 4 and first[3] == 0))


def parse_models(text: str | None, manager: ModelManager, task: str, max_count: int) -> list[str]:
    """The models a model comparison runs: 'realsr-v3, sinsr, lite-sr' (:func:`check_models`)."""
    names = list(dict.fromkeys(n.strip() for n in (text or "").replace(";", ",").split(",") if n.strip()))
    return check_models(names, manager, task, max_count)


def check_models(names: list[str], manager: ModelManager, task: str, max_count: int,
                 left_out: dict[str, str] | None = None) -> list[str]:
    """``names``, each a model of ``task``, at least two and at most ``max_count`` (``left_out``:
    the default comparison's models that cannot be had here, and why, said when too few are left)."""
    if len(names) < 2:
        ready = ready_models(manager, task)
        can = f"name them, e.g. {', '.join(ready[:3])}" if len(ready) >= 2 else \
            f"only {ready[0]} can run here without a download" if ready else "none can run here without a download"
        why = "".join(f"; {n}: {reason}" for n, reason in (left_out or {}).items())
        raise InvalidRequest(f"a model comparison needs at least two models that can run here; {can}{why}")
    if len(names) > max_count:
        raise InvalidRequest(f"this server compares at most {max_count} settings at a time; "
                             f"you asked for {len(names)}")
    for name in names:
        check_task(manager.spec(name), task)
    return names


def parse_values(vary: str, text: str | None, spec, max_count: int) -> list:
    """The settings a comparison runs: '1,2,4' or '1-4' steps, '0.5, 1, 2' kappas, each checked
    by the library against the model ``spec`` (a ModelSpec).

    Empty text: steps 1..T (evenly thinned to ``max_count``) or kappa 0.5, 1, 2, 4.
    """
    if vary not in ("steps", "kappa"):
        raise InvalidRequest(f"compare steps, kappa, models (or, for faces, GFPGAN), not {vary!r}")
    text = (text or "").strip()
    if not text:
        if vary == "kappa":
            return list(KAPPA_PRESETS[:max_count])
        trained = spec.diffusion.steps
        grid = np.unique(np.round(np.linspace(1, trained, min(trained, max_count))))
        return [int(v) for v in grid]
    values: list = []
    for part in text.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if vary == "steps" and "-" in part:
                lo, hi = (int(p) for p in part.split("-", 1))
                values.extend(range(lo, hi + 1))
            else:
                values.append(int(part) if vary == "steps" else float(part))
        except ValueError:
            kind = "whole number" if vary == "steps" else "number"
            raise InvalidRequest(f"cannot read {part!r} as a {kind}; write values like 1, 2, 4") from None
    values = list(dict.fromkeys(values))
    if len(values) < 2:
        raise InvalidRequest("a comparison needs at least two different values")
    if len(values) > max_count:
        raise InvalidRequest(f"this server compares at most {max_count} settings at a time; "
                             f"you asked for {len(values)}")
    for v in values:  # the library's rules, as for a single run
        RestoreOptions(**{vary: v}).resolve(spec)
    return values
