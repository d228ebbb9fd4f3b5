"""The studio's video input: a "Video" section in the super-resolution and face tabs.

A video is uploaded, checked from its headers against this server's video limits (before any frame
is decoded, and before a GPU is asked for), restored frame by frame with the tab's model and
settings by :func:`resshift.pipelines.video.restore_video`, and shown as an H.264 MP4 the page
plays and offers for download (frame rate, audio and rotation kept). Progress is reported per
frame and sampling step; the run stops when the request is cancelled (between frames and steps)
or passes the request time limit; every refusal is a sentence (``errors.friendly_errors``).

The GPU work goes through one function, :meth:`VideoRunner.run`, decorated for ZeroGPU like
``Studio.run_jobs``; its job (a :class:`~resshift.pipelines.request.RestoreRequest` with a video) is plain picklable data.

Limits (environment variables, like those of ``limits.py``):

===============================  ====================================  ==================
variable                         meaning                               default CPU / GPU
===============================  ====================================  ==================
``RESSHIFT_MAX_VIDEO_SECONDS``   longest video, seconds                10 / 30
``RESSHIFT_MAX_VIDEO_PIXELS``    largest frame (WIDTHxHEIGHT or count)  256x256 / 640x360
===============================  ====================================  ==================

Uploads are bounded by ``RESSHIFT_MAX_UPLOAD_MB`` and results by ``RESSHIFT_MAX_OUTPUT_PIXELS``, as
for images; the sampling time by ``RESSHIFT_REQUEST_TIMEOUT``.
"""
from __future__ import annotations

import os
import weakref
from pathlib import Path
from typing import Any, Mapping

import gradio as gr

from resshift.errors import InvalidRequest
from resshift.media import probe
from resshift.pipelines import PhotoOptions, RestoreOptions, RestoreResult
from resshift.pipelines.request import RestoreRequest, VideoTarget, execute
from resshift.pipelines.video import VideoOptions

from studio import images
from studio.cancel import cancellable, current_token
from studio.errors import friendly_errors
from studio.handlers import Studio, gpu_decorator, run_name
from studio.limits import ENV_VIDEO_PIXELS, ENV_VIDEO_SECONDS, describe_pixels, video_limits
from studio.tool_docs import as_tool

ENV_SECONDS, ENV_PIXELS = ENV_VIDEO_SECONDS, ENV_VIDEO_PIXELS
BATCH = {"cpu": 4, "cuda": 8}  # frames per network call
NO_VIDEO = "Add a video first: drop a file on the video input, or click it to browse"
NOISE_CHOICES = [("Steady: the same noise for every frame (less flicker)", "steady"),
                 ("Fresh: new noise for every frame", "fresh")]


class VideoRunner:
    """The video handlers of one :class:`~studio.handlers.Studio` (its model manager, limits and
    output folder)."""

    def __init__(self, studio: Studio, env: Mapping[str, str] | None = None):
        self.studio = studio
        device = studio.manager.device.type
        self.limits = video_limits(studio.limits.max_output_pixels, device, env)
        self.batch = BATCH["cuda" if device == "cuda" else "cpu"]
        self.run = gpu_decorator(self._gpu_seconds)(self._run)

    # ---------------------------------------------------------------- the GPU part
    def _gpu_seconds(self, job: RestoreRequest, progress: Any = None) -> int:
        """ZeroGPU reservation: half a minute, plus half a second a frame (at most 5 min)."""
        return int(min(300, 30 + 0.5 * job.video.frames))

    def _run(self, job: RestoreRequest, progress: Any = None) -> RestoreResult:
        def report(fraction: float, desc: str) -> None:
            if progress is not None:
                progress(min(max(fraction, 0.0), 1.0), desc=desc)

        manager, cancel = self.studio.manager, current_token()
        cancel.check()
        if job.model not in manager.loaded():
            report(0.0, f"loading model {job.model}")
        return execute(manager, job, cancel=cancel, timeout=self.studio.limits.request_timeout,
                       load_progress=lambda done, total: report(
                           0.0, f"downloading the weights of {job.model}: {done / 1e6:.0f} MB"),
                       callback=lambda event: report(event.fraction, event.describe()))

    # ---------------------------------------------------------------- requests
    def _job(self, source: str | None, model: str, options: RestoreOptions, noise: str,
             photo: PhotoOptions | None = None, sr_model: str | None = None) -> RestoreRequest:
        """Check an upload (size, then its headers against the limits) and name its result."""
        if not source:
            raise InvalidRequest(NO_VIDEO)
        self.studio.limits.check_upload(os.path.getsize(source))
        video = VideoOptions(noise=noise or "steady", batch_size=self.batch)
        info = probe(source, max_seconds=self.limits.max_seconds, max_pixels=self.limits.max_pixels,
                     max_fps=self.limits.max_fps,
                     min_side=self.limits.min_side)
        # named like the image results, then the noise: clip_lite-sr_4s_k2_seed42_steady
        stem = images.safe_stem(Path(source).name, fallback="video")
        name = f"{run_name(stem, model, options, photo)}_{video.noise}"
        target = images.new_request_dir(self.studio.files_root) / f"{name}.mp4"
        return RestoreRequest(self.studio.manager.spec(model).task, model, None, options, photo=photo, sr_model=sr_model,
                              video=VideoTarget(source, str(target), video, self.limits, info.frame_count or 0))

    def _restore(self, job: RestoreRequest, progress: Any) -> tuple[str, dict]:
        result = self.run(job, progress)
        if result.message:
            gr.Info(result.message)
        return str(job.video.target), result.facts()

    def super_resolve(self, video: str | None, model: str, steps: float, kappa: float, seed: float | None,
                      tile: str = "auto", color_fix: str = "none", noise: str = "steady",
                      progress=gr.Progress()):
        """x4 super-resolution of every frame of a video -> (MP4 path, facts)."""
        with friendly_errors("super-resolving the video"):
            self.studio.check_model(model, "sr")
            options = self.studio.options_for(model, steps, kappa, seed, tile, color_fix)
            return self._restore(self._job(video, model, options, noise), progress)

    def restore_face(self, video: str | None, mode: str, model: str, steps: float, kappa: float,
                     seed: float | None, color_fix: str = "none", scale: int = 1, background: str = "resize",
                     select: str = "all", min_face_size: float = 32, noise: str = "steady",
                     progress=gr.Progress()):
        """Restore the faces of every frame: an aligned-face clip, or every face of whole frames
        (mode 'photo') -> (MP4 path, facts)."""
        with friendly_errors("restoring the faces of the video"):
            self.studio.check_model(model, "face")
            photo = self.studio.photo_options(mode, scale, background, select, min_face_size)
            options = self.studio.options_for(model, steps, kappa, seed, "auto", color_fix)
            sr_model = self.studio.background_model(photo)
            return self._restore(self._job(video, model, options, noise, photo, sr_model), progress)

    # ---------------------------------------------------------------- the page
    def limits_text(self) -> str:
        limits, studio = self.limits, self.studio.limits
        hardware = studio.hardware
        return (f"Videos up to **{limits.max_seconds:g} seconds** with frames up to "
                f"**{describe_pixels(limits.max_pixels)}**, uploads up to "
                f"{studio.max_upload_bytes / (1 << 20):.0f} MB on this {hardware} server "
                f"({ENV_SECONDS}, {ENV_PIXELS}). Every frame is restored with the settings above, "
                f"{self.batch} frames at a time; the result is an MP4 (H.264) with the video's frame "
                "rate, sound and rotation. *Steady* noise restores what stands still the same way in "
                "every frame; *fresh* noise draws new noise for each frame and flickers more.")


_RUNNERS: "weakref.WeakKeyDictionary[Studio, VideoRunner]" = weakref.WeakKeyDictionary()


def runner_for(studio: Studio) -> VideoRunner:
    """The video handlers of ``studio`` (one per studio: one ZeroGPU function for both tabs)."""
    runner = _RUNNERS.get(studio)
    if runner is None:
        runner = _RUNNERS[studio] = VideoRunner(studio)
    return runner


def _section(runner: VideoRunner, task: str, run_label: str, handler, inputs: list, api_name: str) -> None:
    with gr.Accordion("Video", open=False, elem_id=f"{task}-video"):
        gr.Markdown(runner.limits_text())
        with gr.Row(equal_height=False):
            source = gr.Video(label="Video", sources=["upload"], height=280, elem_id=f"{task}-video-input")
            result = gr.Video(label="Restored video (MP4)", interactive=False, height=280, buttons=["download"],
                              elem_id=f"{task}-video-output")
        with gr.Row(equal_height=True):
            noise = gr.Radio(NOISE_CHOICES, value="steady", label="Noise", scale=3)
            run = gr.Button(run_label, variant="primary", scale=1, elem_id=f"{task}-video-run")
        with gr.Accordion("Video facts", open=False):
            facts = gr.JSON(label="Facts")
    run.click(as_tool(cancellable(handler), api_name), [source, *inputs, noise], [result, facts], api_name=api_name,
              concurrency_id="model", show_progress_on=result)


def sr_section(studio: Studio, c) -> None:
    """The SR tab's video section; ``c``: the tab's :class:`~studio.widgets.Controls`."""
    runner = runner_for(studio)
    _section(runner, "sr", "Upscale video ×4", runner.super_resolve,
             [c.model, c.steps, c.kappa, c.seed, c.tile, c.color_fix], "super_resolve_video")


def face_section(studio: Studio, c, mode, scale, background, select, min_face) -> None:
    """The face tab's video section: the tab's controls and its aligned/whole-photo settings."""
    runner = runner_for(studio)
    _section(runner, "face", "Restore video", runner.restore_face,
             [mode, c.model, c.steps, c.kappa, c.seed, c.color_fix, scale, background, select, min_face],
             "restore_face_video")
