"""The studio's tasks as plain, typed API endpoints for programs and agents: one per task, each
an MCP tool when the app serves MCP (``python app.py --mcp``; the tool's description and its
parameters' come from these docstrings, so they say units, ranges and defaults).

They run exactly like the page's buttons: the same checks (the library's), the same job runner
(one run at a time, the request timeout, cancellation) and the same result files.
"""
from __future__ import annotations

import os
from typing import Any, Callable

import gradio as gr
from gradio.data_classes import FileData

from resshift.errors import InvalidRequest
from resshift.pipelines import PhotoOptions, check_task, decode_mask
from resshift.weights.registry import TASKS

from . import images
from . import models as catalog
from .cancel import cancellable
from .errors import friendly_errors
from .handlers import Studio
from .jobs import Job

TASK_TOOLS = ("super_resolution", "inpainting", "face_restoration", "list_models")
"""The task endpoints' names (and MCP tools'), as :func:`tools` returns them."""


def _path(file: Any) -> str | None:
    """A FileData (or its dict, as the API passes it) -> its local path."""
    if file is None:
        return None
    return file.get("path") if isinstance(file, dict) else getattr(file, "path", None)


def tools(studio: Studio) -> list[Callable[..., Any]]:
    """The task endpoints over ``studio`` (register each with ``gr.api``)."""
    manager = studio.manager

    def _model(model: str, task: str) -> str:
        name = model.strip() or catalog.default_name(manager, task)
        check_task(manager.spec(name), task)
        return name

    def _run(job: Job, stem: str, what: str) -> FileData:
        (result,) = studio.run([job])
        folder = images.new_request_dir(studio.files_root)
        return FileData(path=str(images.save_png(result.image, folder, f"{stem}_{what}_{job.model}_seed{job.options.seed}")))

    def super_resolution(image: FileData, model: str = "", steps: int = 0, kappa: float = 0.0,
                         seed: int = 42) -> FileData:
        """Upscale an image 4x (width and height) with ResShift, a diffusion model that restores images in a few steps.

        Args:
            image: the low-resolution image (PNG, JPEG, WebP, ...), as an http(s) URL or a base64 data URI; at most this server's super-resolution input limit (512x512 pixels on a CPU server).
            model: the model: realsr-v3 (official ResShift, 4 steps, real-world photos), sinsr (one-step distilled ResShift), bicsr (clean downscaled images), lite-sr (small bundled preview model), ...; empty = this server's default. The list_models tool says which models this server has.
            steps: sampling steps, from 1 to the model's trained steps (4 for realsr-v3 and lite-sr, 15 for realsr-v1/v2 and sinsr); 0 = the model's own (1 for sinsr and the lite models, else the trained steps).
            kappa: the noise scale kappa, from 0.1 to 8; 0 = the trained value (2).
            seed: random seed, a whole number from 0 to 2^63-1 (default 42); the same seed and settings give the same image.
        Returns:
            the restored image as a PNG, 4 times the input's width and height.
        """
        with friendly_errors("super-resolving the image"):
            name = _model(model, "sr")
            decoded, stem = studio.read_upload("sr", _path(image), scale=manager.spec(name).diffusion.sf)
            options = studio.options_for(name, steps or None, kappa or None, seed)
            return _run(Job("sr", name, decoded, options), stem, "x4")

    def inpainting(image: FileData, mask: FileData, model: str = "", steps: int = 0, kappa: float = 0.0,
                   seed: int = 42) -> FileData:
        """Fill the masked part of an image with ResShift inpainting; the other pixels come back exactly as given.

        Args:
            image: the image (PNG, JPEG, WebP, ...), as an http(s) URL or a base64 data URI; at most this server's inpainting input limit (768x768 pixels on a CPU server).
            mask: a mask image of the same width and height: white (or opaque, for a transparent PNG) marks the pixels to fill.
            model: inpaint-imagenet (official ResShift, 4 steps), inpaint-face (faces), lite-inpaint (small bundled preview model); empty = this server's default.
            steps: sampling steps, from 1 to 4; 0 = the model's own (4 for the official models, 1 for the lite ones).
            kappa: the noise scale kappa, from 0.1 to 8; 0 = the trained value (2).
            seed: random seed, a whole number from 0 to 2^63-1 (default 42).
        Returns:
            the filled image as a PNG, the input's size.
        """
        with friendly_errors("inpainting the image"):
            name = _model(model, "inpaint")
            decoded, stem = studio.read_upload("inpaint", _path(image))
            mask_path = _path(mask)
            if not mask_path:
                raise InvalidRequest("inpainting needs a mask: white marks the pixels to fill")
            studio.limits.check_upload(os.path.getsize(mask_path))
            holes = decode_mask(mask_path, decoded.size)
            options = studio.options_for(name, steps or None, kappa or None, seed)
            return _run(Job("inpaint", name, decoded, options, mask=holes), stem, "inpaint")

    def face_restoration(image: FileData, whole_photo: bool = True, scale: int = 1, model: str = "",
                         steps: int = 0, kappa: float = 0.0, seed: int = 42) -> FileData:
        """Restore faces with ResShift: every face of a photo (found, aligned, restored and pasted back), or one aligned 512x512 face.

        Args:
            image: the photo or face (PNG, JPEG, WebP, ...), as an http(s) URL or a base64 data URI; at most this server's face input limit (1536x1536 pixels on a CPU server).
            whole_photo: true (default) for any photo; false when the image is already an aligned, square face crop.
            scale: output size as a multiple of the input's, 1, 2 or 4 (whole photos only; default 1).
            model: faceir (official ResShift, 4 steps) or lite-face (small bundled preview model); empty = this server's default.
            steps: sampling steps, from 1 to 4; 0 = the model's own (4 for the official models, 1 for the lite ones).
            kappa: the noise scale kappa, from 0.1 to 8; 0 = the trained value (2).
            seed: random seed, a whole number from 0 to 2^63-1 (default 42).
        Returns:
            the restored photo as a PNG (scale times the input's width and height).
        """
        with friendly_errors("restoring faces"):
            name = _model(model, "face")
            photo = PhotoOptions(scale=scale) if whole_photo else None
            decoded, stem = studio.read_upload("face", _path(image), scale=photo.scale if photo else 1)
            options = studio.options_for(name, steps or None, kappa or None, seed)
            return _run(Job("face", name, decoded, options, photo=photo), stem, "face")

    def list_models(task: str = "") -> str:
        """The models this server has, one per line: name, task (sr, inpaint, face), default steps, where its weights are (bundled, on disk, loaded, download on first use, not available offline) and its title.

        Args:
            task: only the models of this task: sr, inpaint or face; empty = all.
        Returns:
            one line per model.
        """
        task = task.strip()
        if task not in ("", *TASKS):
            raise gr.Error(f"task must be one of {', '.join(TASKS)}, or empty for every model; got {task!r}.",
                           title="Cannot run", print_exception=False)

        def line(s) -> str:
            where = catalog.label(manager, s.name).split(" · ")[-1]
            steps = f"{s.default_steps} step{'s' if s.default_steps != 1 else ''}"
            return f"{s.name} | {s.task} | {steps} | {where} | {s.title}"

        return "\n".join(line(s) for s in manager.specs.values() if task in ("", s.task))

    return [cancellable(super_resolution), cancellable(inpainting), cancellable(face_restoration), list_models]


def register(studio: Studio) -> None:
    """Add the task endpoints to the Blocks being built (inside ``with gr.Blocks()``)."""
    *runs, listing = tools(studio)
    for fn in runs:  # one run at a time, with the page's runs (one GPU)
        gr.api(fn, api_name=fn.__name__, concurrency_id="model")
    gr.api(listing, api_name=listing.__name__)
