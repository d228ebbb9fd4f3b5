"""ResShift studio: a Gradio app for super-resolution (x4, x3, x2), inpainting and face restoration.

    python app.py [--share] [--host H] [--port P] [--device cpu|cuda|auto] [--weights-dir D] [--offline]
                  [--weights-mirror URL] [--mcp]

The page has one tab per task. Each runs a ResShift model with a chosen number of steps, kappa and
seed, shows the result in a before/after slider, offers the lossless PNG and the run's facts, and
can compare several step counts or kappa values on the same input and seed.

Importing this module builds ``demo`` (nothing is loaded or downloaded until a request needs a
model); ``python app.py`` parses the flags and serves it. Named API endpoints: super_resolve,
inpaint, restore_face, compare_sr, compare_inpaint, compare_face, super_resolve_video,
restore_face_video, batch_sr, batch_inpaint, batch_face, and for programs super_resolution,
inpainting, face_restoration, list_models (see docs/api.md).
"""
from __future__ import annotations

try:  # on a ZeroGPU Space `spaces` must be imported before anything touches CUDA
    import spaces  # noqa: F401
except ImportError:  # pragma: no cover - the app runs without it off Spaces
    spaces = None

import argparse
import logging
import math
import os
import threading
from pathlib import Path
from typing import Any, Sequence

import gradio as gr
import torch
from PIL import Image
from starlette.middleware import Middleware

from resshift.face.align import is_aligned_size
from resshift.runtime.malloc import tune_malloc
from resshift.manager import ModelManager
from resshift.catalog import default_model_for, files_availability
from resshift.face.gfpgan import GFPGAN_WEIGHTS
from resshift.pipelines.options import BACKGROUNDS, SCALES, SELECTS, SR_SCALES
from resshift.pipelines.registry import TASK_REGISTRY
from studio.prefetch import Prefetch
from resshift.settings import offline_by_env, resolve_device, settings
from studio import models as catalog
from studio import agents, batch, serving, upload_gate, upload_guard, video, widgets
from studio.api_values import NumberRadio, NumberSlider, StudioBlocks
from studio.components import CheckedImageEditor, RawImage, editor_name_script
from studio.handlers import Studio
from studio.limits import Limits, switched_on
from studio.mcp_refusals import McpRefusals
from studio.notice import notice

log = logging.getLogger("resshift.studio")

EXAMPLES = Path(__file__).resolve().parent / "examples"
BRUSH_COLOR = "rgb(255, 45, 85)"
# The editor places an example's mask layer relative to its initial canvas: keep this equal to the
# size of the inpainting examples (256x256), or their painted masks show shifted.
EXAMPLE_CANVAS = (256, 256)
BACKGROUND_LABELS = {"resize": "Resize", "sr": "Super-resolve"}
SELECT_LABELS = {"all": "All", "largest": "Largest", "center": "Centre"}
# Dropdowns: Gradio draws the arrow over the end of the input, so a long model name ran under it;
# the text now stops before the arrow and a name cut short ends in "…" (the open list shows it whole).
CSS = """
.resshift-header h1 {margin-bottom: 0.2em}
.resshift-footer {font-size: 0.85em; opacity: 0.8}
.gradio-container input[role="combobox"] {padding-right: calc(2 * var(--size-5)); text-overflow: ellipsis}
"""
THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="pink")


def make_manager(device: str | torch.device | None = "auto", weights_dir: str | Path | None = None,
                 offline: bool = False, max_loaded: int = 6, mirror: str | None = None) -> ModelManager:
    """The process-wide owner of every network (the known models and the face helpers; nothing is
    loaded here). mirror: a base URL for every download (None: RESSHIFT_WEIGHTS_MIRROR)."""
    return ModelManager(device=resolve_device(device), weights_dir=weights_dir, allow_download=not offline,
                        max_loaded=max_loaded, mirror=mirror)


def launch_kwargs(limits: Limits, demo: gr.Blocks | None = None) -> dict[str, Any]:
    """What ``demo.launch`` needs besides host and port (the tests use it too): the upload limit,
    the upload gate (rate, shares and temp-folder cap, who uploaded what: studio/upload_gate.py;
    ``demo``: the studio whose input files it records), the reasons for refused MCP requests
    (studio/mcp_refusals.py), theme, CSS and script. Forwarded headers
    are trusted from ``limits.trusted_proxies`` only (set for the server about to start)."""
    upload_gate.trust_proxies(limits)
    inputs = getattr(getattr(demo, "studio", None), "inputs", None)
    return {"max_file_size": limits.max_upload_bytes, "theme": THEME, "css": CSS + upload_guard.CSS,
            "js": upload_guard.guard_script(limits, {"inpaint-editor": "inpaint"}),
            "head": editor_name_script({"inpaint-editor": "inpaint-name"}),
            "app_kwargs": {"middleware": [Middleware(upload_gate.UploadGate, limits=limits, inputs=inputs),
                                          Middleware(McpRefusals)]}}


def _examples(folder: str, *names: str) -> list[str]:
    return [str(EXAMPLES / folder / n) for n in names if (EXAMPLES / folder / n).is_file()]


# ----------------------------------------------------------------------------- tabs
def _sr_tab(studio: Studio) -> gr.Dropdown:
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            image = RawImage(type="filepath", label="Low-resolution image", sources=["upload", "clipboard"],
                             height=340, elem_id="sr-input")
            scale = NumberRadio(list(reversed(SR_SCALES)), value=4, label="Output scale", elem_id="sr-scale",
                                info="The models are x4 models: x3 and x2 are their x4 result downscaled.")
            c = widgets.controls(studio, "sr", "Upscale")
        with gr.Column(scale=7):
            o = widgets.outputs("sr")
    cmp = widgets.compare_panel(studio, o, task="sr")
    gr.Examples(_examples("sr", "crowd_x4_lr.png", "portrait_lr.jpg", "handshake_lq.jpg"), [image],
                label="Examples (click one, then Upscale)", cache_examples=False)
    inputs = [image, c.model, c.steps, c.kappa, c.seed, c.resample, c.tile, c.color_fix]
    widgets.wire(c, o, cmp, inputs, studio.super_resolve, studio.compare_sr, studio.live_sr,
                 ("super_resolve", "compare_sr"), extra_inputs=[scale])
    video.sr_section(studio, c)  # a video restored frame by frame with these settings
    batch.panel(studio, "sr", [c.model, c.steps, c.kappa, c.seed, c.tile, c.color_fix, scale])
    return c.model


def _inpaint_tab(studio: Studio) -> gr.Dropdown:
    with gr.Row(equal_height=False):
        with gr.Column(scale=6):
            editor = CheckedImageEditor(
                label="Paint over what to repaint", type="numpy", image_mode="RGBA",
                sources=["upload", "clipboard"], layers=False,
                transforms=(), height=460, canvas_size=EXAMPLE_CANVAS,
                brush=gr.Brush(colors=[(BRUSH_COLOR, 0.7)], default_color=(BRUSH_COLOR, 0.7),
                               color_mode="fixed"),
                eraser=gr.Eraser(), elem_id="inpaint-editor")
            editor.decode = lambda source: studio.decode_upload("inpaint", source)
            name = gr.Textbox("", visible="hidden", elem_id="inpaint-name")  # the upload's name (components.py)
            with gr.Row():
                preview = gr.Image(label="Preview (tinted = repaint)", interactive=False,
                                   height=180, buttons=[])
                mask_upload = RawImage(type="filepath", sources=["upload"], height=180,
                                       label="…or a mask (white = repaint)")
            c = widgets.controls(studio, "inpaint", "Inpaint")
        with gr.Column(scale=6):
            o = widgets.outputs("inpaint")
    cmp = widgets.compare_panel(studio, o, task="inpaint")
    examples = [{"background": str(EXAMPLES / "inpaint" / f"{n}.png"),
                 "layers": [str(EXAMPLES / "inpaint" / f"{n}_mask.png")], "composite": None}
                for n in ("face_256", "office_256") if (EXAMPLES / "inpaint" / f"{n}.png").is_file()]
    gr.Examples([[e] for e in examples], [editor], label="Examples with a painted mask", cache_examples=False)
    inputs = [editor, mask_upload, c.model, c.steps, c.kappa, c.seed, c.resample, c.tile, c.color_fix]
    widgets.wire(c, o, cmp, inputs, studio.inpaint, studio.compare_inpaint, studio.live_inpaint,
                 ("inpaint", "compare_inpaint"), extra_outputs=[preview], extra_inputs=[name])
    editor.clear(lambda: "", None, name, queue=False, api_visibility="private")
    batch.panel(studio, "inpaint", [c.model, c.steps, c.kappa, c.seed, c.tile, c.color_fix])
    for event in (editor.upload, editor.change, mask_upload.change):
        event(studio.preview_mask, [editor, mask_upload], preview, queue=False, show_progress="hidden",
              trigger_mode="always_last", api_visibility="private")
    return c.model


def _guess_mode(path: str | None):
    """Square uploads are probably aligned faces; anything else is a photo."""
    if not path:
        return gr.skip(), gr.skip()
    try:
        with Image.open(path) as im:
            w, h = im.size
    except Exception:  # noqa: BLE001 - the run reports unreadable files
        return gr.skip(), gr.skip()
    mode = "aligned" if is_aligned_size(w, h) else "photo"
    return mode, gr.update(visible=mode == "photo")


def _face_tab(studio: Studio) -> gr.Dropdown:
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            image = RawImage(type="filepath", label="Face or photo", sources=["upload", "clipboard"],
                             height=340, elem_id="face-input")
            mode = gr.Radio([("Aligned face (512×512 crop)", "aligned"),
                             ("Whole photo (find and restore every face)", "photo")],
                            value="aligned", label="Input")
            with gr.Group(visible=False) as photo_box:
                with gr.Row():
                    scale = NumberRadio(list(SCALES), value=1, label="Output scale")
                    background = gr.Radio([(BACKGROUND_LABELS[b], b) for b in BACKGROUNDS], value="resize",
                                          label="Background")
                with gr.Row():
                    select = gr.Radio([(SELECT_LABELS[s], s) for s in SELECTS], value="all", label="Faces")
                    min_face = NumberSlider(0, 256, value=32, step=8, label="Smallest face (pixels)")
            c = widgets.controls(studio, "face", "Restore")
        with gr.Column(scale=7):
            o = widgets.outputs("face")
    gfpgan = files_availability(studio.manager, [GFPGAN_WEIGHTS])
    gfpgan_label = "ResShift vs GFPGAN v1.4" + {"offline": " (not available offline)",
                                               "downloadable": " (downloaded on first use)"}.get(gfpgan, "")
    cmp = widgets.compare_panel(studio, o, extra=[(gfpgan_label, "gfpgan")], task="face")
    gr.Examples(_examples("face", "celebahq_00234_lq.jpg", "celebahq_00277_lq.jpg", "speaker_photo.jpg",
                          "handshake_photo.jpg"), [image],
                label="Examples (aligned faces and whole photos)", cache_examples=False)
    mode.change(lambda m: gr.update(visible=m == "photo"), mode, photo_box, queue=False,
                api_visibility="private")
    image.change(_guess_mode, image, [mode, photo_box], queue=False, api_visibility="private")
    inputs = [image, mode, c.model, c.steps, c.kappa, c.seed, c.resample, c.color_fix, scale, background,
              select, min_face]
    widgets.wire(c, o, cmp, inputs, studio.restore_face, studio.compare_face, studio.live_face,
                 ("restore_face", "compare_face"))
    video.face_section(studio, c, mode, scale, background, select, min_face)
    batch.panel(studio, "face", [mode, c.model, c.steps, c.kappa, c.seed, c.color_fix, scale, background, select,
                                 min_face])
    return c.model


# ----------------------------------------------------------------------------- the app
def header(manager: ModelManager) -> str:
    """The page's title and one line on where it runs and how it gets weights."""
    where = "GPU" if manager.device.type == "cuda" else "CPU (slow: a GPU is recommended)"
    if not manager.allow_download:
        downloads = "weights offline: only models on disk"
    elif manager.no_connection:
        downloads = ("**no connection**: only models on disk (put other weight files in the weights folder, "
                     "--weights-dir)")
    else:
        downloads = "weights downloaded on first use"
    return ("# ResShift studio\n"
            "Image restoration by residual shifting (Yue, Wang & Loy, NeurIPS 2023): diffusion in "
            "**a few steps**. Pick a model, the number of steps, the noise scale κ and a seed; drag "
            "the slider to compare before and after.  \n"
            f"Running on **{where}** · {downloads}.")


def build_demo(manager: ModelManager | None = None, *, limits: Limits | None = None,
               device: str | None = None, weights_dir: str | Path | None = None,
               offline: bool | None = None, files_root: str | Path | None = None,
               prefetch: Prefetch | None = None, probe: threading.Thread | None = None) -> gr.Blocks:
    """Build the studio. Without ``manager``, one over every known model is made from the
    arguments or the RESSHIFT_DEVICE / RESSHIFT_WEIGHTS_DIR / RESSHIFT_OFFLINE environment.
    prefetch: a background fetch of the default models, whose progress the page shows; probe: the
    start-up connection probe (``ModelManager.probe_in_background``), whose answer the page shows."""
    if manager is None:
        offline = offline if offline is not None else offline_by_env()
        manager = make_manager(device, weights_dir or settings().weights_dir, offline)
    limits = limits or Limits.from_env(manager.device.type)
    studio = Studio(manager, limits, files_root=files_root)
    with StudioBlocks(title="ResShift studio", delete_cache=(1800, 3600)) as demo:
        header_box = gr.Markdown(header(manager), elem_classes="resshift-header")
        first_notice = notice(manager, prefetch)
        notice_box = gr.Markdown(first_notice, visible=bool(first_notice), elem_id="resshift-notice")
        with gr.Tabs(overflow_behavior="wrap"):  # narrow windows: a second row, not a hidden menu
            with gr.Tab("Super-resolution ×4", id="sr"):
                sr_model = _sr_tab(studio)
            with gr.Tab("Inpainting", id="inpaint"):
                inpaint_model = _inpaint_tab(studio)
            with gr.Tab("Face restoration", id="face"):
                face_model = _face_tab(studio)
        gr.Markdown(f"{limits.summary()} Results are deleted after an hour. API: every tab is an "
                    "endpoint, listed under “Use via API” at the foot of the page on wide screens, and "
                    "super_resolution, inpainting and face_restoration are plain endpoints for programs "
                    "(MCP tools with --mcp).", elem_classes="resshift-footer")
        agents.register(studio)

        def busy() -> bool:  # something in the background changes what the page says
            return (prefetch is not None and prefetch.running) or (probe is not None and probe.is_alive())

        def refresh():  # availability labels, the header and the notice change as weights download
            text = notice(manager, prefetch)
            return (*(gr.update(choices=catalog.choices(manager, t)) for t in TASK_REGISTRY),
                    gr.update(value=text, visible=bool(text)), header(manager), gr.Timer(active=busy()))

        timer = gr.Timer(2.0, active=busy())
        refreshed = [sr_model, inpaint_model, face_model, notice_box, header_box, timer]
        demo.load(refresh, None, refreshed, queue=False, api_visibility="private")
        timer.tick(refresh, None, refreshed, queue=False, api_visibility="private")
        demo.unload(studio.on_unload)  # a closed page or client: its runs stop, its input files go
    demo.queue(max_size=limits.queue_size, default_concurrency_limit=1)
    demo.studio = studio  # for tests and operators: the shared state behind the handlers
    return demo


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="ResShift studio (Gradio app)")
    add = p.add_argument
    add("--share", action="store_true", help="ask Gradio for a temporary public link")
    add("--mcp", action="store_true", default=switched_on("RESSHIFT_MCP"),
        help="also serve the tasks as MCP tools at /gradio_api/mcp/ (or RESSHIFT_MCP=1)")
    add("--host", default=None, help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    add("--port", type=int, default=None, help="port (default 7860 or the next free one)")
    add("--device", default=None, help="cpu, cuda, cuda:N or auto (default RESSHIFT_DEVICE, else auto)")
    add("--weights-dir", type=Path, default=None, help="folder with weight files (or RESSHIFT_WEIGHTS_DIR)")
    add("--weights-mirror", metavar="URL", default=None,
        help="base URL that replaces the release prefix of every weight download (or RESSHIFT_WEIGHTS_MIRROR)")
    add("--offline", action="store_true", default=offline_by_env(),
        help="never download weights; list which models are on disk (or RESSHIFT_OFFLINE=1)")
    add("--preload", action="store_true", default=switched_on("RESSHIFT_PRELOAD"),
        help="load each task's default model at start (always on ZeroGPU Spaces)")
    cpu, gpu = Limits.defaults("cpu"), Limits.defaults("cuda")

    def default(value) -> str:  # the limit's default on each kind of device
        def side(limits: Limits) -> str:
            v = value(limits)
            return f"{math.isqrt(v)}x{math.isqrt(v)}" if isinstance(v, int) and v >= 1 << 16 else f"{v:g}"
        return f"default {side(cpu)} on a CPU, {side(gpu)} on a GPU"

    add("--max-upload-mb", type=float,
        help=f"largest upload in MB ({default(lambda lim: lim.max_upload_bytes / (1 << 20))}; RESSHIFT_MAX_UPLOAD_MB)")
    for task in TASK_REGISTRY:
        add(f"--max-pixels-{task}", help=f"largest {task} input, e.g. 1024x1024 "
            f"({default(lambda lim, t=task: lim.max_pixels[t])}; RESSHIFT_MAX_PIXELS_{task.upper()})")
    add("--max-output-pixels", help=f"largest result, e.g. 4096x4096 "
        f"({default(lambda lim: lim.max_output_pixels)}; RESSHIFT_MAX_OUTPUT_PIXELS)")
    add("--timeout", type=float, help="seconds of sampling per request, 0 = none "
        f"({default(lambda lim: lim.request_timeout)}; RESSHIFT_REQUEST_TIMEOUT)")
    add("--queue-size", type=int,
        help=f"requests waiting at most ({default(lambda lim: lim.queue_size)}; RESSHIFT_QUEUE_SIZE)")
    add("--trusted-proxies", metavar="ADDRESSES", default=None,
        help="comma-separated addresses (or networks) of reverse proxies whose X-Forwarded-For header names "
             "the client (default none: every client is the address it connects from; RESSHIFT_TRUSTED_PROXIES)")
    return p


def _limits_from(args: argparse.Namespace, device_type: str) -> Limits:
    """The environment's limits, with the command line's flags on top."""
    flags = {"RESSHIFT_MAX_UPLOAD_MB": args.max_upload_mb,
             **{f"RESSHIFT_MAX_PIXELS_{t.upper()}": getattr(args, f"max_pixels_{t}") for t in TASK_REGISTRY},
             "RESSHIFT_MAX_OUTPUT_PIXELS": args.max_output_pixels, "RESSHIFT_REQUEST_TIMEOUT": args.timeout,
             "RESSHIFT_QUEUE_SIZE": args.queue_size, "RESSHIFT_TRUSTED_PROXIES": args.trusted_proxies}
    return Limits.from_env(device_type, flags=flags)


def start_prefetch(manager: ModelManager) -> Prefetch | None:
    """On a GPU with downloads allowed, fetch each task's default (official) model in the
    background at start, so the first visitor's run does not wait for a download; None elsewhere."""
    if manager.device.type != "cuda" or not manager.allow_download:
        return None
    names = [name for name in (default_model_for(manager, t) for t in TASK_REGISTRY)
             if name is not None and manager.spec(name).official]
    return Prefetch(manager, names).start() if names else None


def preload(manager: ModelManager) -> None:
    """Load each task's default model now (on ZeroGPU the workers then inherit them)."""
    for task in TASK_REGISTRY:
        name = catalog.default_name(manager, task)
        if name is None:
            continue
        try:
            manager.get(name)
            log.info("preloaded %s", name)
        except Exception as exc:  # noqa: BLE001 - a missing model must not stop the server
            log.warning("could not preload %s: %s", name, exc)


def main(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    tune_malloc()  # large CPU tensors reused, not mapped afresh (resshift/runtime/malloc.py)
    try:
        device = resolve_device(args.device)
    except ValueError as exc:
        raise SystemExit(f"--{exc}") from None
    manager = make_manager(device, args.weights_dir, args.offline, mirror=args.weights_mirror)
    # one short connect to the weights host, never blocking the start
    probe = manager.probe_in_background() if manager.allow_download else None
    limits = _limits_from(args, device.type)
    serving.tune_process()  # a core for the connections, fewer analytics (studio/serving.py)
    if args.preload or switched_on("SPACES_ZERO_GPU"):
        preload(manager)
    global demo
    demo = build_demo(manager, limits=limits, prefetch=start_prefetch(manager), probe=probe)
    log.info("device %s; %s", device, limits.summary())
    serve(demo, limits, host=args.host, port=args.port, share=args.share, mcp=args.mcp)
    demo.block_thread()


def serve(app: gr.Blocks, limits: Limits, *, host: str | None = None, port: int | None = None,
          share: bool = False, mcp: bool = False) -> gr.Blocks:
    """Start the server without blocking (``mcp``: also as an MCP server, the ``mcp`` package).
    Its threads switch often and its API description is built at start (studio/serving.py). A share
    link that cannot be made (no network) is logged and the local server keeps running.
    Gradio's own start-up lines are replaced by the studio's (its advice, "set share=True in
    launch()", is not how this app makes a public link)."""
    def launch(with_share: bool) -> None:
        app.launch(server_name=host, server_port=port, share=with_share, prevent_thread_lock=True,
                   mcp_server=mcp, quiet=True, **launch_kwargs(limits, app))

    serving.tune_threads()
    if os.environ.get("SPACE_ID") and not limits.trusted_proxies:
        log.warning("on a Space every visitor may arrive from the Space's proxy and share one address (one "
                    "upload rate, upload share and queue share for all): name the proxy's addresses with "
                    "RESSHIFT_TRUSTED_PROXIES (or --trusted-proxies) so that each visitor is counted apart")
    try:
        launch(share)
    except Exception as exc:  # noqa: BLE001 - only the share link may fail; retry without it
        if not share:
            raise
        log.warning("could not create a public share link (%s); serving locally only", exc)
        app.close()
        launch(False)
    print(f"* Running on local URL:  {app.local_url}", flush=True)
    if app.share_url:
        print(f"* Running on public URL: {app.share_url}", flush=True)
    elif share:
        log.warning("could not create a public share link (is this machine offline?); the studio keeps "
                    "serving locally at %s", app.local_url)
    else:
        print("* For a temporary public link, start the studio with --share", flush=True)
    if mcp:  # Gradio prints the URL with every endpoint (the page tools an MCP client cannot call are not listed)
        base = f"{app.local_url.rstrip('/')}/gradio_api/mcp/"
        print(f"* MCP, the four task tools: {base}?tools={','.join(agents.TASK_TOOLS)}", flush=True)
    serving.warm_up(app.local_url)
    return app


if __name__ == "__main__":
    main()
else:  # imported (tests, `gradio app.py`): build the default studio; nothing loads until a request
    demo = build_demo()
