"""Batches: several images, or a zip of them, through a tab's model and settings.

Each tab has a *Batch* panel (``panel``) whose run takes the tab's model, steps, kappa, seed and
other settings, restores every image with them (one seed for all), and returns a gallery, one zip
of the results with a ``manifest.json`` (settings, seed, each image's facts, what failed or was
skipped and why), and a report. An image that fails is listed with its reason and the others go
on; a request that runs past the server's time limit returns what was done. Endpoints:
``/batch_sr``, ``/batch_inpaint``, ``/batch_face``.

Inputs are read by :func:`resshift.pipelines.batch.gather` (zips: limits from the central directory, zip
bombs refused before extracting, folders flattened into the names; inpainting masks paired as
``NAME.png`` + ``NAME_mask.png``). Each image then goes through the tab's own preparation (its
pixel limits, its messages) and the studio's job runner (``Studio.run``: the work limit, ZeroGPU, the request
timeout and cancellation).
"""
from __future__ import annotations

import html
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable

import gradio as gr

from resshift import __version__
from resshift.pipelines.batch import BatchItem, gather, header_pixels
from resshift.errors import InvalidRequest
from resshift.face.align import is_aligned_size
from resshift.pipelines.files import output_names as _output_names
from resshift.pipelines.files import restore_file
from resshift.media.archive import skipped_summary, write_zip
from resshift.pipelines import InvalidMaskError, decode_mask
from resshift.pipelines.registry import TASK_REGISTRY
from resshift.runtime.progress import RequestTimeout
from resshift.pipelines.result import RestoreResult

from studio import images
from studio.cancel import cancellable
from studio.errors import OOM_MESSAGE, friendly_errors
from studio.handlers import Studio
from studio.jobs import Job
from studio.limits import LimitExceeded, describe_pixels
from studio.tool_docs import as_tool

# a zip's images may add up to this many times the upload limit once extracted (photos barely
# compress; BMP and TIFF do), and no entry may declare more than ZIP_MAX_RATIO times its packed size
ZIP_EXPANSION = 4
REPORT_SKIPPED = 10  # skipped files named one by one in a report; the others are counted by reason
ZIP_MAX_RATIO = 50.0


@dataclass
class BatchPanel:
    """A tab's batch panel: the files, the button and the three results (gallery, zip, report)
    and the manifest."""

    files: gr.File
    run: gr.Button
    gallery: gr.Gallery
    archive: gr.File
    report: gr.Markdown
    manifest: gr.JSON


def limits_text(studio: Studio, task: str) -> str:
    """What the panel says about its limits and rules (Markdown)."""
    lim = studio.limits
    text = (f"Several images, or a **.zip** of them (folders inside are fine). Up to "
            f"**{lim.max_batch_images} images**, **{describe_pixels(lim.max_batch_pixels).split(' (')[0]} "
            f"pixels in all** ({lim.max_batch_pixels / 1e6:.1f} megapixels; each image within this tab's own "
            f"limit) on this {lim.hardware} server. Every image is restored with this tab's model, settings "
            "and seed; the results come back in the gallery and as one zip, with a manifest.json of the "
            "settings and seed. An image that fails is listed with the reason, and the others go on.")
    if TASK_REGISTRY[task].mask:
        text += (" **Masks:** pair each image with its mask by name, `NAME.png` with `NAME_mask.png` "
                 "(white = repaint), in the zip or among the files.")
    return text


def output_names(names: list[str]) -> list[str]:
    """The result file of each uploaded image: the command line's rule (``resshift.pipelines.files``) on
    names made safe for a file system."""
    return _output_names(names, stem=lambda name: images.safe_stem(name, max_length=100))


def _settings(job: Job) -> dict:
    settings: dict[str, Any] = {"model": job.model, **asdict(job.options)}
    if job.photo is not None:
        settings["photo"] = asdict(job.photo)
        if job.sr_model:
            settings["photo"]["sr_model"] = job.sr_model
    return {**settings, **_face_mode(job)}


def _face_mode(job: Job) -> dict[str, str]:
    """A face job's mode, as its settings and its result's facts say it: 'photo' or 'aligned'
    ({} for the other tasks)."""
    return {"mode": "photo" if job.photo is not None else "aligned"} if TASK_REGISTRY[job.task].photo else {}


class Batches:
    """The batch handlers of the three tabs, over the studio's shared state."""

    def __init__(self, studio: Studio):
        self.studio = studio

    # ------------------------------------------------------------------ the endpoints
    def sr(self, files: list[str] | None, model: str, steps: float, kappa: float, seed: float | None,
           tile: str = "auto", color_fix: str = "none", scale: int = 4, progress=gr.Progress()):
        """x4 (or x3, x2) super-resolution of several images or a zip -> (gallery, zip of the results,
        report, manifest)."""
        with friendly_errors("super-resolving the batch"):
            s = self.studio
            s.check_model(model, "sr")
            seed = s.options_for(model, steps, kappa, seed, tile, color_fix, scale).seed  # one seed for every image
            return self._run("sr", files, lambda item: s._prepare_sr(str(item.path), model, steps, kappa, seed,
                                                                     tile, color_fix, hold=False, scale=scale)[0],
                             progress)

    def inpaint(self, files: list[str] | None, model: str, steps: float, kappa: float, seed: float | None,
                tile: str = "auto", color_fix: str = "none", progress=gr.Progress()):
        """Inpaint several images, each with its mask (NAME.png + NAME_mask.png, white = repaint) ->
        (gallery, zip of the results, report, manifest)."""
        with friendly_errors("inpainting the batch"):
            s = self.studio
            s.check_model(model, "inpaint")
            options = s.options_for(model, steps, kappa, seed, tile, color_fix)

            def prepare(item: BatchItem) -> Job:
                if item.mask is None:
                    raise InvalidMaskError(f"no mask: add {Path(item.name).stem}_mask.png (white = repaint) "
                                           "beside it")
                decoded = s.decode_upload("inpaint", str(item.path))
                return Job("inpaint", model, decoded, options, mask=decode_mask(item.mask, decoded.size))

            return self._run("inpaint", files, prepare, progress)

    def face(self, files: list[str] | None, mode: str, model: str, steps: float, kappa: float,
             seed: float | None, color_fix: str = "none", scale: int = 1, background: str = "resize",
             select: str = "all", min_face_size: float = 32, progress=gr.Progress()):
        """Restore aligned faces or the faces of whole photos, several images or a zip ->
        (gallery, zip of the results, report, manifest). With mode 'aligned', an image that cannot
        be an aligned face (not square) is restored as a whole photo; a photo over the face limit
        is fitted to it."""
        with friendly_errors("restoring the faces of the batch"):
            s = self.studio
            s.check_model(model, "face")
            seed = s.options_for(model, steps, kappa, seed, "auto", color_fix).seed
            s.photo_options(mode, scale, background, select, min_face_size)  # the settings' sentence, once
            return self._run("face", files, lambda item: s._prepare_face(
                str(item.path), image_mode(mode, item.path), model, steps, kappa, seed, color_fix, scale,
                background, select, min_face_size, hold=False)[0], progress,
                fitted=lambda path: image_mode(mode, path) == "photo")

    # ------------------------------------------------------------------ the run
    def _gather(self, task: str, files: list[str] | None, folder: Path,
                fitted: Callable[[Path], bool] = lambda path: False):
        lim = self.studio.limits
        files = [f for f in (files or []) if f]
        if not files:
            raise InvalidRequest("Add images first: drop several image files, or a zip of them, on the batch "
                                 "input")
        for f in files:
            lim.check_upload(Path(f).stat().st_size)
        gathered = gather(files, folder, masks=TASK_REGISTRY[task].mask, max_images=lim.max_batch_images,
                          max_zip_bytes=ZIP_EXPANSION * lim.max_upload_bytes, max_ratio=ZIP_MAX_RATIO)
        limit = lim.max_pixels[task]  # a fitted photo counts as what is restored of it
        total = sum(min(px, limit) if fitted(item.path) else px
                    for item in gathered.items for px in [header_pixels(item.path)])
        if total > lim.max_batch_pixels:
            amount = f"{total / 1e6:.1f} megapixels" if total >= 100_000 else f"{total:,} pixels"
            raise LimitExceeded(
                f"These {len(gathered.items)} images add up to {amount}; a batch on this "
                f"{lim.hardware} server takes up to {describe_pixels(lim.max_batch_pixels)} in all. Send fewer "
                "or smaller images (whoever runs the studio can raise the limit with RESSHIFT_MAX_BATCH_PIXELS).")
        return gathered

    def _scratch_root(self) -> Path:
        root = Path(self.studio.files_root)
        root.mkdir(parents=True, exist_ok=True)
        return root

    def _run(self, task: str, files: list[str] | None, prepare: Callable[[BatchItem], Job], progress: Any,
             fitted: Callable[[Path], bool] = lambda path: False):
        started = time.perf_counter()
        # zips are extracted in the temp folder whose size the upload gate caps (not the system's)
        with tempfile.TemporaryDirectory(prefix="resshift-batch-", dir=self._scratch_root()) as scratch:
            gathered = self._gather(task, files, Path(scratch), fitted)
            folder = images.new_request_dir(self.studio.files_root)
            done, failed, job = self._restore_each(gathered.items, prepare, folder, progress)
        n = len(gathered.items)
        if not done:
            reasons = list(dict.fromkeys(reason for _, reason in failed))
            detail = reasons[0] if len(reasons) == 1 else "; ".join(
                f"{item.name}: {reason}" for item, reason in failed[:3]) + ("; ..." if len(failed) > 3 else "")
            raise InvalidRequest(f"None of the {n} image{'s' if n != 1 else ''} could be restored: {detail}")
        seconds = time.perf_counter() - started
        manifest = {
            "resshift": __version__, "task": task, "settings": _settings(job), "seconds": round(seconds, 2),
            "images": [{"input": item.original, "output": path.name,
                        **({"mask": item.mask_original} if item.mask_original else {}), "facts": facts}
                       for item, path, facts in done],
            "failed": [{"input": item.original, "reason": reason} for item, reason in failed],
            "skipped": [{"input": s.name, "reason": s.reason} for s in gathered.skipped],
        }
        archive = write_zip(folder / f"resshift_{task}_batch.zip", [(path.name, path) for _, path, _ in done],
                            manifest)
        gallery = [(str(path), item.name) for item, path, _ in done]
        return gallery, str(archive), _report(n, done, failed, gathered.skipped, job, seconds), manifest

    def _restore_each(self, items: tuple[BatchItem, ...], prepare: Callable[[BatchItem], Job], folder: Path,
                      progress: Any) -> tuple[list, list, Job | None]:
        """Run every item through the job runner, one at a time; a failing image is listed and the
        others go on. Returns ([(item, result PNG, facts)], [(item, reason)], the first job run)."""
        n = len(items)
        done: list[tuple[BatchItem, Path, dict]] = []
        failed: list[tuple[BatchItem, str]] = []
        first: Job | None = None
        for i, (item, out_name) in enumerate(zip(items, output_names([item.name for item in items]))):
            where = f"image {i + 1}/{n} ({item.name})"
            progress(i / n, desc=f"{where}: reading")

            def report(fraction: float, desc: str = "", i=i, where=where) -> None:
                progress(min(max((i + fraction) / n, 0.0), 1.0), desc=f"{where}: {desc}")

            job: Job | None = None  # this item's, once prepared (preparing can fail: a bad image or mask)

            def run(item=item, report=report) -> RestoreResult:
                nonlocal first, job
                job = replace(prepare(item), label=item.name)
                first = first or job
                return self.studio.run([job], report)[0]

            try:
                outcome = restore_file(item.path, item.path, run, save=False,
                                       out_of_memory=OOM_MESSAGE.format(where="server"))
            except RequestTimeout as exc:  # the request's time is up: keep what is done
                failed.extend((rest, f"not run: the batch {exc}") for rest in items[i:])
                break
            if not outcome.ok:
                failed.append((item, outcome.reason))
                continue
            result = outcome.result
            facts = {**result.facts(), **_face_mode(job)}
            done.append((item, images.save_png(result.image, folder, Path(out_name).stem, result.icc_profile),
                         facts))
        return done, failed, first


def image_mode(mode: str, path: str | Path) -> str:
    """The face mode of one image of a batch: 'aligned' only for an image that can be an aligned
    face (square, within 2 %); any other image is a whole photo, whatever the panel says."""
    if mode != "aligned":
        return mode
    from PIL import Image

    try:
        with Image.open(path) as img:
            w, h = img.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return mode  # unreadable: its run says why
    return "aligned" if is_aligned_size(w, h) else "photo"


def _report(n: int, done: list, failed: list, skipped, job: Job, seconds: float) -> str:
    """The run in a few Markdown lines: how many were restored with which settings, then every
    failure and skipped file with its reason."""
    o = job.options
    lines = [f"**Restored {len(done)} of {n} image{'s' if n != 1 else ''}** in {seconds:.1f} s · "
             f"{html.escape(job.model)} · {o.steps} step{'s' if o.steps != 1 else ''} · κ {o.kappa:g} · "
             f"seed {o.seed}"]
    fitted = [(item, facts["fitted_from"], facts["size"]) for item, _, facts in done if "fitted_from" in facts]
    if fitted:
        lines += ["", "Fitted to this server's face limit (downscaled, then restored):"] + \
            [f"- {html.escape(item.name)}: {was} → {size}" for item, was, size in fitted]
    if failed:
        lines += ["", "Failed:"] + [f"- {html.escape(item.name)}: {html.escape(reason)}" for item, reason in failed]
    if skipped:
        lines += ["", "Skipped:"] + [f"- {html.escape(s.name)}: {html.escape(s.reason)}"
                                     for s in skipped[:REPORT_SKIPPED]]
        if len(skipped) > REPORT_SKIPPED:  # the rest summed up by reason (the manifest lists each)
            lines.append(f"- and {html.escape(skipped_summary(skipped[REPORT_SKIPPED:]).replace(' skipped:', ' more:'))}")
    return "\n".join(lines)


def panel(studio: Studio, task: str, settings: list) -> BatchPanel:
    """The batch panel of ``task``'s tab; ``settings``: the tab's inputs after the files, in the
    order of the task's handler (``Batches.sr`` / ``inpaint`` / ``face``). API name ``batch_<task>``."""
    batches = Batches(studio)
    with gr.Accordion("Batch: several images or a zip", open=False):
        gr.Markdown(limits_text(studio, task))
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                files = gr.File(file_count="multiple", type="filepath", label="Images or a .zip",
                                height=160, elem_id=f"{task}-batch-files")
                run = gr.Button("Run batch", variant="primary", elem_id=f"{task}-batch-run")
                archive = gr.File(label="All results (.zip with manifest.json)", interactive=False, height=90,
                                  elem_id=f"{task}-batch-zip")
            with gr.Column(scale=7):
                gallery = gr.Gallery(label="Batch results", columns=4, height=320, object_fit="contain",
                                     fit_columns=False, interactive=False, elem_id=f"{task}-batch-gallery")
                report = gr.Markdown("", elem_id=f"{task}-batch-report")
        with gr.Accordion("Batch manifest", open=False):
            manifest = gr.JSON(label="manifest.json")
    handler = as_tool(cancellable(getattr(batches, task)), f"batch_{task}")
    run.click(handler, [files, *settings], [gallery, archive, report, manifest], api_name=handler.__name__,
              concurrency_id="model", show_progress_on=[gallery, report])
    return BatchPanel(files, run, gallery, archive, report, manifest)
