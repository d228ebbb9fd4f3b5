"""The page's endpoints as MCP tools: each named after its API name and described for agents.

Gradio 6.31 names an endpoint's MCP tool after its handler's ``__name__``, not its ``api_name``,
and describes the tool and its parameters from the handler's docstring: the text before ``Args:``,
one ``name: text`` line per parameter under ``Args:``, and the lines under ``Returns:``. The page's
handlers are methods named for the code (``Batches.sr``, ``VideoRunner.super_resolve``), so their
tools would be ``sr`` and ``super_resolve_1``, with no parameter described. :func:`as_tool` gives
a wrapped handler its endpoint's API name and a docstring made here: one summary and one sentence
on the results per endpoint (:data:`ENDPOINTS`), one line per parameter (:data:`PARAMETERS`, with a
task's own lines in :data:`TASK_PARAMETERS`). The parameters themselves (names, order, defaults)
stay the handler's, so the REST API does not change.

The plain task endpoints for agents (``super_resolution``, ...) are described where they are
written, in ``agents.py``.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import gradio as gr

_PHOTO_ONLY = "photo mode only"

PARAMETERS: dict[str, str] = {
    "kappa": "the noise scale kappa, a number from 0.1 to 8 (default: the model's trained value, 2).",
    "seed": "random seed as text, a whole number from 0 to 2^63-1 (default \"42\"); empty = a new random seed, "
            "reported in the facts; the same seed and settings give the same result.",
    "resample": "how the input is resized to the result's size for the left side of the before/after pair: "
                "bicubic (default) or nearest; the result itself does not depend on it.",
    "tile": "largest tile edge in input pixels: auto (default: the model's own), off (the whole image at once, "
            "more memory), 128, 256 or 512; smaller tiles use less memory.",
    "color_fix": "colour correction of the result towards the input's colours: none (default), wavelet or adain.",
    "mode": "aligned (default): the image is one aligned, square face crop (restored at 512x512); photo: find "
            "every face of a photo, restore each and paste it back.",
    "scale": f"output width and height as a multiple of the input's: 1 (default), 2 or 4 ({_PHOTO_ONLY}).",
    "background": "how the rest of the photo is enlarged to the scale: resize (default, Lanczos) or sr "
                  f"(super-resolved with this server's default super-resolution model) ({_PHOTO_ONLY}).",
    "select": f"which faces to restore: all (default), largest, or center (the most central one) ({_PHOTO_ONLY}).",
    "min_face_size": "faces whose box's longer side is shorter than this many input pixels are left as they are; "
                     f"a whole number from 0 (default 32) ({_PHOTO_ONLY}).",
    "values": "the values to compare, separated by commas: steps like \"1,2,4\" or a range \"1-4\", kappas like "
              "\"0.5, 1, 2\", or model names like \"realsr-v3, sinsr, lite-sr\"; empty (default) = steps 1 to the "
              "trained steps, kappa 0.5, 1, 2, 4, or this server's comparison models; at most this server's "
              "comparison limit (4 runs on a CPU server, 8 on a GPU one).",
    "noise": "steady (default): the same noise for every frame, which flickers less; fresh: new noise for "
             "every frame.",
    "video": "the video file (MP4, WebM, MOV, ...), as an http(s) URL or a base64 data URI; at most this "
             "server's video limits (10 seconds and 256x256-pixel frames on a CPU server, 30 seconds and "
             "640x360 on a GPU one).",
}
_BATCH_FILES = ("as http(s) URLs or base64 data URIs; at most this server's batch limits (16 images and "
                "2720x2720 pixels in all on a CPU server, 64 images and 8192x8192 on a GPU one), each image "
                "within the task's own input limit.")
_VARY = "what the runs differ in, all with the same input, other settings and seed: steps (default), kappa or models"

TASK_PARAMETERS: dict[str, dict[str, str]] = {
    "sr": {
        "image": "the low-resolution image (PNG, JPEG, WebP, ...), as an http(s) URL or a base64 data URI; at "
                 "most this server's super-resolution input limit (512x512 pixels on a CPU server, 1024x1024 "
                 "on a GPU one).",
        "files": f"the low-resolution images (PNG, JPEG, WebP, ...) and/or .zip archives of them, {_BATCH_FILES}",
        "model": "the model's name: realsr-v3 (official ResShift, 4 steps, real-world photos), sinsr (one-step "
                 "distilled ResShift), bicsr (clean downscaled images), lite-sr (small bundled preview model), "
                 "...; the default is this server's default; the list_models tool says which it has.",
        "steps": "sampling steps, a whole number from 1 to the model's trained steps (4 for realsr-v3, bicsr and "
                 "lite-sr; 15 for realsr-v1/v2 and sinsr); default: the default model's own steps (1 for sinsr "
                 "and lite-sr).",
        "scale": "the output's width and height as a multiple of the input's: 4 (default), 3 or 2; the models are "
                 "x4 models, and x3 and x2 are their x4 result downscaled (antialiased).",
        "vary": f"{_VARY}.",
    },
    "inpaint": {
        "editor": "the image and what to repaint, as {\"background\": image, \"layers\": [layer images], "
                  "\"composite\": null}: a layer's painted pixels (alpha above 0) mark the area to repaint; "
                  "images as http(s) URLs or base64 data URIs; at most this server's inpainting input limit "
                  "(768x768 pixels on a CPU server, 2048x2048 on a GPU one).",
        "image_name": "the uploaded image's file name, which names the result file (default empty: the "
                      "editor's name for its background).",
        "mask_upload": "an optional mask image of the image's width and height: white (or opaque, for a "
                       "transparent PNG) marks more pixels to repaint; null (default) = the layers only.",
        "files": "the images (PNG, JPEG, WebP, ...) and/or .zip archives of them, each image with its mask "
                 f"named NAME_mask.png (white = repaint) beside NAME.png, {_BATCH_FILES}",
        "model": "the model's name: inpaint-imagenet (official ResShift, 4 steps), inpaint-face (faces), "
                 "lite-inpaint (small bundled preview model); the default is this server's default; the "
                 "list_models tool says which it has.",
        "steps": "sampling steps, a whole number from 1 to 4 (default: the model's own: 4, or 1 for the lite "
                 "models).",
        "vary": f"{_VARY}.",
    },
    "face": {
        "image": "the face crop or photo (PNG, JPEG, WebP, ...), as an http(s) URL or a base64 data URI; a whole "
                 "photo larger than this server's face input limit (1536x1536 pixels on a CPU server, 4096x4096 on "
                 "a GPU one) is downscaled to it first, and the caption says so.",
        "files": f"the face crops or photos (PNG, JPEG, WebP, ...) and/or .zip archives of them, {_BATCH_FILES}",
        "model": "the model's name: faceir (official ResShift, 4 steps) or lite-face (small bundled preview "
                 "model); the default is this server's default; the list_models tool says which it has.",
        "steps": "sampling steps, a whole number from 1 to 4 (default: the model's own: 4, or 1 for the lite "
                 "models).",
        "vary": f"{_VARY}, or gfpgan (ResShift against GFPGAN v1.4).",
    },
}


@dataclass(frozen=True)
class EndpointDoc:
    """One endpoint's tool description: its task ('sr', 'inpaint', 'face'), what it does, what it
    returns (one sentence each); instead: the flat agent tool (``agents.py``) that does its work for
    an MCP client, when the endpoint itself cannot be called over MCP (Gradio 6.31 cannot call a tool
    whose schema nests files, the editor's or a list of them, nor one that returns a gr.State): such
    an endpoint stays in the API but is not listed as an MCP tool."""

    task: str
    summary: str
    returns: str
    instead: str | None = None


_FACTS = "the run's facts (JSON: model, steps, kappa, seed, seconds, tiles, size, ...)"
_COMPARE = ("a gallery of the results, each labelled with its setting and seconds; the first and the last "
            "result as a pair; a caption naming both; a table of every run's facts; the last result as a PNG.")
_VIDEO = ("the restored video as an H.264 MP4 with the input's frame rate, sound and rotation, and the run's "
          "facts (JSON: frames, fps, noise, audio, seconds_per_frame, ...).")
_BATCH = ("a gallery of the results; one .zip of the result PNGs with a manifest.json; a report in Markdown "
          "(what was done, and what failed or was skipped and why); the manifest (JSON: the settings, the "
          "seed, each image's facts and failures).")
_SAME_SEED = "one model, one set of settings and one seed for every image; an image that fails is reported " \
             "with its reason and the others go on"

ENDPOINTS: dict[str, EndpointDoc] = {
    "super_resolve": EndpointDoc(
        "sr", "Upscale an image 4x (or 3x, 2x; width and height) with a ResShift diffusion model, with every setting of "
              "the page's Super-resolution tab (tiles, colour correction); super_resolution is the simpler call.",
        "the input resized to the result's size and the result, as a pair of PNGs; a caption naming both; the "
        f"result as a PNG, scale times the input's width and height; {_FACTS}."),
    "compare_sr": EndpointDoc(
        "sr", "Super-resolve one image 4x several times, with different steps, kappa values or models and the "
              "same seed, to compare the results side by side (the Super-resolution tab's comparison).",
        _COMPARE, instead="compare_runs"),
    "super_resolve_video": EndpointDoc(
        "sr", "Upscale every frame of a video 4x (width and height) with a ResShift diffusion model (the "
              "Super-resolution tab's Video section).",
        _VIDEO),
    "batch_sr": EndpointDoc(
        "sr", f"Upscale several images, or .zip archives of them, 4x (or 3x, 2x) with ResShift: {_SAME_SEED} (the "
              "Super-resolution tab's Batch panel).",
        _BATCH, instead="batch_restore"),
    "inpaint": EndpointDoc(
        "inpaint", "Fill the marked area of an image with ResShift inpainting (the page's Inpainting tab): the "
                   "pixels under the painted layers or the white pixels of the mask are repainted, the others "
                   "come back as given; inpainting is the simpler call with one mask image.",
        "the input with the area to repaint tinted and the result, as a pair of PNGs; a caption; the result as "
        f"a PNG of the input's size; {_FACTS}; a preview (the area to repaint tinted, the rest dimmed).",
        instead="inpainting"),
    "compare_inpaint": EndpointDoc(
        "inpaint", "Inpaint one image several times, with different steps, kappa values or models and the same "
                   "seed, to compare the results side by side (the Inpainting tab's comparison).",
        _COMPARE, instead="compare_runs"),
    "batch_inpaint": EndpointDoc(
        "inpaint", f"Inpaint several images, or .zip archives of them, each with its mask: {_SAME_SEED} (the "
                   "Inpainting tab's Batch panel).",
        _BATCH, instead="batch_restore"),
    "restore_face": EndpointDoc(
        "face", "Restore faces with ResShift (the page's Face restoration tab): one aligned face crop, or every "
                "face of a photo (found, aligned, restored and pasted back, the photo optionally enlarged); "
                "face_restoration is the simpler call.",
        "the input resized to the result's size and the result, as a pair of PNGs; a caption with the faces "
        f"found; the result as a PNG (scale times the input's width and height); {_FACTS}."),
    "compare_face": EndpointDoc(
        "face", "Restore one face crop or photo several times, with different steps, kappa values or models, or "
                "ResShift against GFPGAN v1.4, with the same seed, to compare the results side by side (the "
                "Face restoration tab's comparison).",
        _COMPARE, instead="compare_runs"),
    "restore_face_video": EndpointDoc(
        "face", "Restore the faces in every frame of a video: a clip of an aligned face, or every face of whole "
                "frames (the Face restoration tab's Video section).",
        _VIDEO),
    "batch_face": EndpointDoc(
        "face", f"Restore the faces of several face crops or photos, or .zip archives of them: {_SAME_SEED} "
                "(the Face restoration tab's Batch panel).",
        _BATCH, instead="batch_restore"),
}


def _described(fn: Callable[..., Any]) -> list[str]:
    """The parameters a client sends: all but those Gradio fills in (``gr.Progress``)."""
    return [name for name, p in inspect.signature(fn).parameters.items()
            if not isinstance(p.default, gr.Progress)]


def docstring(api_name: str, parameters: Iterable[str]) -> str:
    """The tool description of endpoint ``api_name`` with one ``Args:`` line per parameter, in
    Gradio's docstring form. KeyError when the endpoint or a parameter has no description."""
    try:
        doc = ENDPOINTS[api_name]
    except KeyError:
        raise KeyError(f"no MCP tool description for the endpoint {api_name!r}; add it to "
                       "studio/tool_docs.py ENDPOINTS") from None
    own = TASK_PARAMETERS[doc.task]
    lines = [doc.summary, "", "Args:"]
    for name in parameters:
        text = own.get(name) or PARAMETERS.get(name)
        if text is None:
            raise KeyError(f"no MCP description for the parameter {name!r} of {api_name!r}; add it to "
                           "studio/tool_docs.py")
        lines.append(f"    {name}: {text}")
    lines += ["Returns:", f"    {doc.returns}"]
    return "\n".join(lines)


def as_tool(handler: Callable[..., Any], api_name: str) -> Callable[..., Any]:
    """``handler`` (a wrapper made for this one event, e.g. by ``cancellable``) named ``api_name``
    and described for MCP; its signature (``__wrapped__``'s) is left as it is. Returns it."""
    handler.__doc__ = docstring(api_name, _described(handler))
    handler.__name__ = handler.__qualname__ = api_name
    if ENDPOINTS[api_name].instead:  # Gradio lists as MCP tools the functions without another _mcp_type
        handler._mcp_type = "api-only"
    return handler
