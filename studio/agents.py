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
from resshift.media.image import to_uint8
from resshift.pipelines import PhotoOptions, check_task, decode_mask
from resshift.weights.registry import TASKS

from studio import images
from studio import models as catalog
from studio.cancel import cancellable
from studio.errors import friendly_errors
from studio.handlers import Studio, run_name
from studio.jobs import Job

TASK_TOOLS = ("super_resolution", "inpainting", "face_restoration", "list_models")
"""The task endpoints' names (and MCP tools'), as :func:`tools` returns them."""
FLAT_TOOLS = ("compare_runs", "batch_restore")
"""Flat tools for what the page's comparison and batch endpoints do: their MCP schemas (a list of
files, the comparison's state) cannot be called by an MCP client, so those are not MCP tools."""


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
        """Run ``job``; its PNG is named after the task and the input: ``<what>_<input>_<model>_...``."""
        (result,) = studio.run([job])
        folder = images.new_request_dir(studio.files_root)
        name = f"{what}_{run_name(stem, job.model, job.options, job.photo)}"
        return FileData(path=str(images.save_png(result.image, folder, name, result.icc_profile)))

    def super_resolution(image: FileData, model: str = "", steps: int = 0, kappa: float = 0.0,
                         seed: int = 42, scale: int = 4) -> FileData:
        """Upscale an image 4x (or 3x, 2x; width and height) with ResShift, a diffusion model that restores images in a few steps.

        Args:
            image: the low-resolution image (PNG, JPEG, WebP, ...), as an http(s) URL or a base64 data URI; at most this server's super-resolution input limit (512x512 pixels on a CPU server).
            model: the model: realsr-v3 (official ResShift, 4 steps, real-world photos), sinsr (one-step distilled ResShift), bicsr (clean downscaled images), lite-sr (small bundled preview model), ...; empty = this server's default. The list_models tool says which models this server has.
            steps: sampling steps, from 1 to the model's trained steps (4 for realsr-v3 and lite-sr, 15 for realsr-v1/v2 and sinsr); 0 = the model's own (1 for sinsr and the lite models, else the trained steps).
            kappa: the noise scale kappa, from 0.1 to 8; 0 = the trained value (2).
            seed: random seed, a whole number from 0 to 2^63-1 (default 42); the same seed and settings give the same image.
            scale: the output's width and height as a multiple of the input's: 4 (default), 3 or 2; the models are x4 models, and x3 and x2 are their x4 result downscaled.
        Returns:
            the restored image as a PNG, scale times the input's width and height.
        """
        with friendly_errors("super-resolving the image"):
            name = _model(model, "sr")
            options = studio.options_for(name, steps or None, kappa or None, seed, scale=scale)
            decoded, stem = studio.read_upload("sr", _path(image), scale=options.scale)
            return _run(Job("sr", name, decoded, options), stem, "super_resolution")

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
            return _run(Job("inpaint", name, decoded, options, mask=holes), stem, "inpainting")

    def face_restoration(image: FileData, whole_photo: bool = True, scale: int = 1, model: str = "",
                         steps: int = 0, kappa: float = 0.0, seed: int = 42) -> FileData:
        """Restore faces with ResShift: every face of a photo (found, aligned, restored and pasted back), or one aligned 512x512 face.

        Args:
            image: the photo or face (PNG, JPEG, WebP, ...), as an http(s) URL or a base64 data URI; a whole photo larger than this server's face input limit (1536x1536 pixels on a CPU server) is downscaled to it first.
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
            decoded, stem = studio.read_upload("face", _path(image), scale=photo.scale if photo else 1,
                                               fit=photo is not None)
            options = studio.options_for(name, steps or None, kappa or None, seed)
            return _run(Job("face", name, decoded, options, photo=photo), stem, "face_restoration")

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


def _quiet(*args: Any, **kwargs: Any) -> None:
    """A progress callback that shows nothing (an agent's call has no progress bar)."""


def flat_tools(studio: Studio) -> list[Callable[..., Any]]:
    """:data:`FLAT_TOOLS` over ``studio``: the comparison and the batch with one file in, plain values."""
    from studio.batch import Batches

    manager = studio.manager
    batches = Batches(studio)

    def compare_runs(image: FileData, task: str = "sr", vary: str = "steps", values: str = "", model: str = "",
                     seed: int = 42, mask: FileData | None = None, scale: int = 4) -> FileData:
        """Run one image several times with different steps, kappa values or models and the same seed, and return every result side by side in one image (the page's comparison, for agents).

        Args:
            image: the image (PNG, JPEG, WebP, ...), as an http(s) URL or a base64 data URI; at most this server's input limit for the task.
            task: sr (super-resolution, default), inpaint (needs mask) or face (an aligned, square face crop).
            vary: what the runs differ in: steps (default), kappa or models.
            values: the values, separated by commas: steps like "1,2,4" or "1-4", kappas like "0.5, 1, 2", model names like "realsr-v3, sinsr, lite-sr"; empty = steps 1 to the trained steps, kappa 0.5, 1, 2, 4, or this server's comparison models; at most 4 runs on a CPU server, 8 on a GPU one.
            model: the model (steps and kappa vary on it); empty = this server's default for the task.
            seed: random seed, a whole number from 0 to 2^63-1 (default 42), the same for every run.
            mask: inpainting only: a mask image of the image's size, white = the pixels to fill.
            scale: super-resolution only: the output scale, 4 (default), 3 or 2.
        Returns:
            one PNG with every result side by side, each labelled with its setting and seconds.
        """
        with friendly_errors("comparing settings"):
            task = task.strip() or "sr"
            if task not in TASKS:
                raise InvalidRequest(f"task must be one of {', '.join(TASKS)}; got {task!r}")
            name = model.strip() or catalog.default_name(manager, task)
            path = _path(image)
            if task == "sr":
                job, before, stem = studio._prepare_sr(path, name, None, None, seed, "auto", "none", scale=scale)
            elif task == "inpaint":
                mask_path = _path(mask)
                if not mask_path:
                    raise InvalidRequest("inpainting needs a mask: white marks the pixels to fill")
                studio.check_model(name, "inpaint")
                decoded, stem = studio.read_upload("inpaint", path)
                studio.limits.check_upload(os.path.getsize(mask_path))
                options = studio.options_for(name, None, None, seed)
                job = Job("inpaint", name, decoded, options, mask=decode_mask(mask_path, decoded.size))
                before = images.mask_preview(to_uint8(decoded.rgb), job.mask, dim=1.0)
            else:
                job, before, stem = studio._prepare_face(path, "aligned", name, None, None, seed, "none", 1,
                                                         "resize", "all", 0)
            gallery = studio._compare(job, before, stem, task, "bicubic", vary, values, _quiet)[0]
            folder = images.new_request_dir(studio.files_root)
            sheet = images.save_png(images.contact_sheet(gallery), folder, f"compare_{task}_{stem}_{vary}")
            return FileData(path=str(sheet))

    def batch_restore(archive: FileData, task: str = "sr", model: str = "", steps: int = 0, kappa: float = 0.0,
                      seed: int = 42, scale: int = 0, whole_photo: bool = True):
        """Restore every image of a .zip archive (or one image) with one model, settings and seed, and return a .zip of the results with a manifest.json (the page's Batch panels, for agents).

        Args:
            archive: a .zip of images (PNG, JPEG, WebP, ...; folders inside are fine; for inpainting each image with its mask named NAME_mask.png beside NAME.png, white = repaint), or one image, as an http(s) URL or a base64 data URI; at most this server's batch limits (16 images and 2720x2720 pixels in all on a CPU server, 64 images and 8192x8192 on a GPU one).
            task: sr (super-resolution, default), inpaint or face.
            model: the model; empty = this server's default for the task.
            steps: sampling steps, from 1 to the model's trained steps; 0 = the model's own.
            kappa: the noise scale kappa, from 0.1 to 8; 0 = the trained value (2).
            seed: random seed, a whole number from 0 to 2^63-1 (default 42), the same for every image.
            scale: output scale; super-resolution 4, 3 or 2 (0 = 4); faces 1, 2 or 4 for whole photos (0 = 1).
            whole_photo: faces only: true (default) finds every face of each photo; false restores square images as aligned face crops (other images are still whole photos).
        Returns:
            a .zip of the result PNGs with a manifest.json (settings, seed, each image's facts, what failed and why); and a report in Markdown.
        """
        with friendly_errors("restoring the batch"):
            task = task.strip() or "sr"
            if task not in TASKS:
                raise InvalidRequest(f"task must be one of {', '.join(TASKS)}; got {task!r}")
            name = model.strip() or catalog.default_name(manager, task)
            files = [_path(archive)] if _path(archive) else []
            if task == "sr":
                out = batches.sr(files, name, steps or None, kappa or None, seed, scale=scale or 4, progress=_quiet)
            elif task == "inpaint":
                out = batches.inpaint(files, name, steps or None, kappa or None, seed, progress=_quiet)
            else:
                out = batches.face(files, "photo" if whole_photo else "aligned", name, steps or None, kappa or None,
                                   seed, scale=scale or 1, progress=_quiet)
            _, zipped, report, _ = out
            return FileData(path=zipped), report

    batch_restore.__annotations__["return"] = tuple[FileData, str]  # two outputs (this module's annotations are text)
    return [cancellable(compare_runs), cancellable(batch_restore)]


def register(studio: Studio) -> None:
    """Add the task endpoints to the Blocks being built (inside ``with gr.Blocks()``)."""
    *runs, listing = tools(studio)
    for fn in [*runs, *flat_tools(studio)]:  # one run at a time, with the page's runs (one GPU)
        gr.api(fn, api_name=fn.__name__, concurrency_id="model")
    gr.api(listing, api_name=listing.__name__)
