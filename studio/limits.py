"""What one request may ask of the studio: upload bytes, input/output pixels, run time, queue size.

Defaults fit a free 2-core CPU Space (small inputs) or one 24 GB GPU (larger ones). Every limit can
be changed with an environment variable (or the matching ``app.py`` flag):

=================================  =======================================  =================
variable                           meaning                                  default CPU / GPU
=================================  =======================================  =================
``RESSHIFT_MAX_UPLOAD_MB``         largest uploaded file, megabytes         20 / 50
``RESSHIFT_MAX_PIXELS_SR``         largest super-resolution input           512x512 / 1024x1024
``RESSHIFT_MAX_PIXELS_INPAINT``    largest inpainting input                 768x768 / 2048x2048
``RESSHIFT_MAX_PIXELS_FACE``       largest face-restoration input           1536x1536 / 4096x4096
``RESSHIFT_MAX_OUTPUT_PIXELS``     largest result (whole-photo face scale)  4096x4096 / 8192x8192
``RESSHIFT_REQUEST_TIMEOUT``       seconds one request may sample (0 = no)  600 / 300
``RESSHIFT_QUEUE_SIZE``            requests waiting at most                 16 / 32
``RESSHIFT_QUEUE_PER_CLIENT``      of them from one client (address)        4 / 8
``RESSHIFT_MAX_COMPARE``           runs in one comparison                   4 / 8
``RESSHIFT_MAX_BATCH_IMAGES``      images in one batch (files or a zip)     16 / 64
``RESSHIFT_MAX_BATCH_PIXELS``      input pixels of one batch, all images    2720x2720 / 8192x8192
                                   (whole photos of faces: as fitted)
``RESSHIFT_MAX_WORK``              work of a request, as a multiple of a    2.5 / 2.5
                                   square image of as many pixels (0 = no)
``RESSHIFT_MAX_TEMP_MB``           uploads and results on disk in all       2048 / 8192
                                   (Gradio's temp folder; 0 = no limit)
``RESSHIFT_UPLOADS_PER_MINUTE``    uploads one client may send a minute     300 / 600
``RESSHIFT_UPLOAD_MB_PER_MINUTE``  megabytes one client may upload a minute 200 / 1000
``RESSHIFT_CLIENT_TEMP_MB``        one client's uploads on disk (its share  1/8 of the above
                                   of RESSHIFT_MAX_TEMP_MB; 0 = no share)
``RESSHIFT_UNUSED_UPLOAD_S``       seconds an upload no request uses stays  900 / 900
``RESSHIFT_TRUSTED_PROXIES``       addresses whose X-Forwarded-For is       none / none
                                   trusted (comma-separated; else the
                                   older FORWARDED_ALLOW_IPS)
=================================  =======================================  =================

Pixel limits are written as ``WIDTHxHEIGHT`` (the limit is their product) or as a pixel count.

Work: pixels do not measure what a request costs. The model pads its input to a multiple of its
size (64 input pixels for the official SR models) and cuts it into overlapping tiles, so a very
thin image costs far more than its pixels (a 4x16384 strip is sampled as 64x16384, 16 times its
pixels). Each request's work is estimated before it runs (``resshift.pipelines.cost``: the FLOP
of every network call, per model) and refused over ``RESSHIFT_MAX_WORK`` times the work of a
square image with as many pixels, run by the same model at its trained number of steps (and never
less than for a square image of a quarter of the task's pixel limit). Inputs of a usual shape,
up to 4:1, stay within 2.5 at every size the pixel limits allow; thin strips, whose padding the
model samples in vain, do not: they are refused, rather than run for many times their pixels.
Whole-photo face restoration is estimated for its super-resolved background only (the faces'
number is unknown until they are found; each is one 512x512 run).

Uploads: Gradio keeps every upload and every result in its temp folder (``GRADIO_TEMP_DIR``).
``studio/upload_gate.py`` refuses an upload that would take the folder over
``RESSHIFT_MAX_TEMP_MB`` (HTTP 507) or a client over its upload rate (HTTP 429), with a sentence;
``studio/input_files.py`` removes a request's input files once no page can send them again.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Mapping


from resshift.errors import InvalidRequest
from resshift.media.image import DecodedImage, ImageLike, ImageTooLargeError, decode_image, parse_pixels
from resshift.pipelines.cost import equivalent_side, estimate_work, square_side
from resshift.pipelines.options import RestoreOptions
from resshift.pipelines.video import VideoLimits
from resshift.settings import env_flag
from resshift.weights.registry import ModelSpec

TASK_NAMES = {"sr": "Super-resolution", "inpaint": "Inpainting", "face": "Face restoration"}
ENV_PIXELS = {"sr": "RESSHIFT_MAX_PIXELS_SR", "inpaint": "RESSHIFT_MAX_PIXELS_INPAINT",
              "face": "RESSHIFT_MAX_PIXELS_FACE"}


FIT_LIMIT = 64_000_000
"""The largest whole photo the face tab fits to its limit (a 48-megapixel phone photo fits); a
larger one is refused, as any input over a limit."""


class LimitExceeded(InvalidRequest):
    """A request is larger than this server allows; the message says the limit and what to do."""


def describe_pixels(n: int) -> str:
    """262144 -> '512x512 (0.26 megapixels)'; non-squares -> '1.50 megapixels'."""
    side = round(n ** 0.5)
    mp = f"{n / 1e6:.2f} megapixels"
    return f"{side}x{side} ({mp})" if side * side == n else mp


@dataclass(frozen=True)
class Limits:
    """Per-request limits. ``max_pixels`` maps a task ('sr', 'inpaint', 'face') to input pixels."""

    max_upload_bytes: int
    max_pixels: Mapping[str, int]
    max_output_pixels: int
    request_timeout: float | None  # seconds of sampling per request; None = unlimited
    queue_size: int
    max_compare: int
    hardware: str = "CPU"  # what the defaults were chosen for (said in messages)
    max_batch_images: int = 16
    max_batch_pixels: int = 2720 * 2720  # three phone photos fitted to the CPU face limit (3 x 1536x1536)
    env_names: Mapping[str, str] = field(default_factory=lambda: MappingProxyType(dict(ENV_PIXELS)))
    max_work: float | None = 2.5  # x a square image of as many pixels (module docstring); None = no limit
    max_temp_bytes: int | None = 2048 << 20  # uploads and results in Gradio's temp folder; None = no limit
    uploads_per_minute: int = 300  # per client (IP address)
    upload_bytes_per_minute: int = 200 << 20  # per client
    client_temp_bytes: int | None = -1  # one client's uploads on disk; -1: max_temp_bytes / 8; None = no share
    unused_upload_s: float | None = 900.0  # an upload no request holds or queued is removed after; None = 1 h
    trusted_proxies: tuple[str, ...] = ()  # addresses whose X-Forwarded-For header is believed
    queue_per_client: int = -1  # requests one client (address) may have waiting; -1: a quarter of queue_size

    def __post_init__(self) -> None:
        if self.max_upload_bytes < 1 or self.max_output_pixels < 1 or self.queue_size < 1:
            raise ValueError("upload, output and queue limits must be positive")
        if self.max_compare < 2:
            raise ValueError("a comparison needs at least 2 runs")
        if self.max_batch_images < 1 or self.max_batch_pixels < 1:
            raise ValueError("batch limits must be positive")
        if self.max_work is not None and self.max_work < 1:
            raise ValueError("the work limit must be at least 1 (a square image of the request's pixels)")
        if self.uploads_per_minute < 1 or self.upload_bytes_per_minute < 1:
            raise ValueError("upload rates must be positive")
        if self.client_temp_bytes == -1:
            object.__setattr__(self, "client_temp_bytes",
                               None if self.max_temp_bytes is None else max(1, self.max_temp_bytes // 8))
        if self.client_temp_bytes is not None and self.client_temp_bytes < 1:
            raise ValueError("a client's share of the temp folder must be positive (None: no share)")
        if self.unused_upload_s is not None and self.unused_upload_s <= 0:
            raise ValueError("the life of an unused upload must be positive (None: Gradio's hour)")
        object.__setattr__(self, "trusted_proxies", tuple(self.trusted_proxies))
        if self.queue_per_client == -1:
            object.__setattr__(self, "queue_per_client", max(1, self.queue_size // 4))
        if self.queue_per_client < 1:
            raise ValueError("a client's share of the queue must be at least 1")
        missing = set(TASK_NAMES) - set(self.max_pixels)
        if missing:
            raise ValueError(f"max_pixels lacks tasks {sorted(missing)}")
        object.__setattr__(self, "max_pixels", MappingProxyType(dict(self.max_pixels)))

    @classmethod
    def defaults(cls, device_type: str = "cpu") -> "Limits":
        if device_type == "cuda":
            return cls(max_upload_bytes=50 << 20,
                       max_pixels={"sr": 1024 * 1024, "inpaint": 2048 * 2048, "face": 4096 * 4096},
                       max_output_pixels=8192 * 8192, request_timeout=300.0, queue_size=32,
                       max_compare=8, hardware="GPU", max_batch_images=64, max_batch_pixels=8192 * 8192,
                       max_temp_bytes=8192 << 20, uploads_per_minute=600, upload_bytes_per_minute=1000 << 20)
        return cls(max_upload_bytes=20 << 20,
                   max_pixels={"sr": 512 * 512, "inpaint": 768 * 768, "face": 1536 * 1536},
                   max_output_pixels=4096 * 4096, request_timeout=600.0, queue_size=16,
                   max_compare=4, hardware="CPU")

    @classmethod
    def from_env(cls, device_type: str = "cpu", env: Mapping[str, str] | None = None,
                 flags: Mapping[str, object] | None = None) -> "Limits":
        """The defaults for ``device_type``, overridden by the RESSHIFT_* variables that are set
        (``env``, default this process's), and by ``flags`` (the same names; app.py's command-line
        flags, None where not given) on top."""
        env = dict(os.environ if env is None else env)
        env.update({k: str(v) for k, v in (flags or {}).items() if v is not None})
        base = cls.defaults(device_type)
        changes: dict = {}

        def read(name: str, convert):
            raw = env.get(name)
            if raw is None or raw.strip() == "":
                return None
            try:
                return convert(raw)
            except ValueError as exc:
                raise ValueError(f"{name}={raw!r} is not valid: {exc}") from None

        if (mb := read("RESSHIFT_MAX_UPLOAD_MB", float)) is not None:
            changes["max_upload_bytes"] = int(mb * (1 << 20))
        pixels = dict(base.max_pixels)
        for task, name in ENV_PIXELS.items():
            if (value := read(name, parse_pixels)) is not None:
                pixels[task] = value
        changes["max_pixels"] = pixels
        if (value := read("RESSHIFT_MAX_OUTPUT_PIXELS", parse_pixels)) is not None:
            changes["max_output_pixels"] = value
        if (value := read("RESSHIFT_REQUEST_TIMEOUT", float)) is not None:
            changes["request_timeout"] = value if value > 0 else None
        if (value := read("RESSHIFT_QUEUE_SIZE", int)) is not None:
            changes["queue_size"] = value
        changes["queue_per_client"] = read("RESSHIFT_QUEUE_PER_CLIENT", int) or -1  # else a quarter of the queue
        if (value := read("RESSHIFT_MAX_COMPARE", int)) is not None:
            changes["max_compare"] = value
        for name, key, convert in (("RESSHIFT_MAX_BATCH_IMAGES", "max_batch_images", int),
                                   ("RESSHIFT_MAX_BATCH_PIXELS", "max_batch_pixels", parse_pixels)):
            if (value := read(name, convert)) is not None:
                changes[key] = value
        if (value := read("RESSHIFT_MAX_WORK", float)) is not None:
            changes["max_work"] = value if value > 0 else None
        if (mb := read("RESSHIFT_MAX_TEMP_MB", float)) is not None:
            changes["max_temp_bytes"] = int(mb * (1 << 20)) if mb > 0 else None
        if (value := read("RESSHIFT_UPLOADS_PER_MINUTE", int)) is not None:
            changes["uploads_per_minute"] = value
        if (mb := read("RESSHIFT_UPLOAD_MB_PER_MINUTE", float)) is not None:
            changes["upload_bytes_per_minute"] = int(mb * (1 << 20))
        if (mb := read("RESSHIFT_CLIENT_TEMP_MB", float)) is not None:
            changes["client_temp_bytes"] = int(mb * (1 << 20)) if mb > 0 else None
        else:
            changes["client_temp_bytes"] = -1  # a share of the (perhaps changed) cap
        if (value := read("RESSHIFT_UNUSED_UPLOAD_S", float)) is not None:
            changes["unused_upload_s"] = value if value > 0 else None
        proxies = env.get("RESSHIFT_TRUSTED_PROXIES")
        if proxies is None:
            proxies = env.get("FORWARDED_ALLOW_IPS", "")  # the older way to say it (uvicorn's)
        changes["trusted_proxies"] = tuple(p.strip() for p in proxies.split(",") if p.strip())
        return replace(base, **changes)

    def check_upload(self, size_bytes: int) -> None:
        if size_bytes > self.max_upload_bytes:
            raise LimitExceeded(
                f"The file is {size_bytes / (1 << 20):.1f} MB; this server accepts uploads up to "
                f"{self.max_upload_bytes / (1 << 20):.0f} MB. Save it as a smaller JPEG/PNG or "
                "downscale it and try again.")

    def input_template(self, task: str, result: str = "") -> str:
        """The sentence refusing an input over ``task``'s limit, with {width}, {height} and
        {megapixels} to fill in (the page's own upload check uses it too)."""
        return (f"This image is {{width}}x{{height}} pixels ({{megapixels}} megapixels){result}. "
                f"{TASK_NAMES[task]} here accepts inputs up to {describe_pixels(self.max_pixels[task])} on "
                f"this {self.hardware} server. Crop or downscale the image and try again (whoever runs "
                f"the studio can raise the limit with {self.env_names[task]}).")

    def check_input(self, task: str, width: int, height: int, scale: int = 1) -> None:
        """Refuse an input of width x height for ``task`` (its result being ``scale`` times larger)."""
        n = width * height
        if n > self.max_pixels[task]:
            out = f" (the result would be {width * scale}x{height * scale})" if scale > 1 else ""
            raise LimitExceeded(self.input_template(task, out).format(
                width=width, height=height, megapixels=f"{n / 1e6:.2f}"))
        if n * scale * scale > self.max_output_pixels:
            raise LimitExceeded(
                f"The result would be {width * scale}x{height * scale} pixels; this server makes "
                f"results up to {describe_pixels(self.max_output_pixels)}. Choose a smaller output "
                "scale, or crop or downscale the image.")

    def decode(self, task: str, source: ImageLike, scale: int = 1, *, fit: bool = False) -> DecodedImage:
        """Decode an input of ``task`` once, refused from its header (files) when over the pixel
        limits, with this server's sentence; ``scale``: the result is that much larger. ``fit``: an
        image over the task's limit (up to :data:`FIT_LIMIT`) is downscaled to it instead (a whole
        photo of faces; its ``original_size`` says it was)."""
        limit = self.max_pixels[task]
        try:
            if fit:  # to the input limit, and to the result's at this scale
                fit_to = min(limit, self.max_output_pixels // (scale * scale))
                decoded = decode_image(source, max_pixels=max(FIT_LIMIT, limit), fit_pixels=fit_to)
            else:
                decoded = decode_image(source, max_pixels=limit)
        except ImageTooLargeError as exc:
            if exc.size is None:  # Pillow's decompression-bomb guard
                raise self.refuse_huge(task, exc.limit) from None
            if fit:
                w, h = exc.size
                raise LimitExceeded(
                    f"This photo is {w}x{h} pixels ({w * h / 1e6:.1f} megapixels); photos up to "
                    f"{FIT_LIMIT / 1e6:.0f} megapixels are fitted to this server's limit of "
                    f"{describe_pixels(limit)}. Downscale it and try again.") from None
            self.check_input(task, *exc.size, scale)
            raise  # pragma: no cover - check_input refuses what decode_image refused
        self.check_input(task, *decoded.size, scale)
        return decoded

    def refuse_huge(self, task: str, guard_pixels: int) -> LimitExceeded:
        """The error for an image too large even to open safely (Pillow's decompression-bomb guard
        refuses images over ``guard_pixels`` before their size can be checked here)."""
        return LimitExceeded(
            f"This image is too large to open safely (over {guard_pixels / 1e6:.0f} megapixels). "
            f"{TASK_NAMES[task]} here accepts inputs up to {describe_pixels(self.max_pixels[task])} "
            f"on this {self.hardware} server. Crop or downscale the image and try again.")

    def work_budget(self, task: str, spec: ModelSpec, pixels: int, device_type: str) -> tuple[float, int]:
        """(FLOP, side): the most work a request of ``pixels`` input pixels may take with
        ``spec``'s model: ``max_work`` times a square image of as many pixels (at least a quarter
        of the task's limit) restored at the model's trained steps; side: the square's side."""
        side = square_side(max(pixels, self.max_pixels[task] // 4))
        reference = estimate_work(spec, (side, side), RestoreOptions(steps=spec.diffusion.steps),
                                  device_type=device_type)
        return reference.flops * (self.max_work or float("inf")), side

    def check_work(self, task: str, spec: ModelSpec, size: tuple[int, int], options: RestoreOptions,
                   device_type: str) -> None:
        """Refuse a request whose estimated work (``resshift.pipelines.cost``) is over this
        server's budget for an input of its pixels (see the module docstring), saying why: the
        padding of a thin image, or the settings. size: the input's (width, height) pixels."""
        if self.max_work is None:
            return
        width, height = size
        work = estimate_work(spec, size, options, device_type=device_type)
        budget, side = self.work_budget(task, spec, width * height, device_type)
        if work.flops <= budget:
            return
        steps = RestoreOptions(steps=work.steps, self_ensemble=options.self_ensemble)
        like = equivalent_side(spec, work.flops, steps, device_type=device_type)
        allowed = equivalent_side(spec, budget, steps, device_type=device_type)
        pw, ph = work.padded
        runs = f"{work.steps} step{'s' if work.steps != 1 else ''}"
        if work.padding >= 1.5:
            why = (f", a very thin shape: {spec.name} works on sizes in multiples of {work.input_multiple} "
                   f"pixels, so it would be padded to {pw}x{ph} and, at {runs}, take about as long as an "
                   f"image of {like}x{like} pixels")
            advice = "Crop it into pieces closer to square and run them one at a time"
        else:
            why = (f": with these settings {spec.name} would take about as long, at {runs}, as an image of "
                   f"{like}x{like} pixels with the default tiles")
            advice = "Choose the tile size 'auto' under Advanced, fewer steps or a smaller image"
        raise LimitExceeded(
            f"This image is {width}x{height} pixels{why}. This {self.hardware} server allows an image of "
            f"this size at most the work of one of {allowed}x{allowed} pixels ({self.max_work:g} times that "
            f"of {side}x{side}). {advice} (whoever runs the studio can change this limit with "
            "RESSHIFT_MAX_WORK).")

    def summary(self) -> str:
        """One line for the page footer."""
        sizes = ", ".join(f"{TASK_NAMES[t].lower()} {describe_pixels(n).split(' (')[0]}"
                          for t, n in self.max_pixels.items())
        timeout = f"; {self.request_timeout:.0f} s per request" if self.request_timeout else ""
        work = (f"; work up to {self.max_work:g}x that of a square image with as many pixels (very thin "
                "images are padded to the model's size, 64 px for the official SR models, and refused)"
                if self.max_work else "")
        return (f"Limits on this {self.hardware} server: uploads up to "
                f"{self.max_upload_bytes / (1 << 20):.0f} MB; inputs up to {sizes}{timeout}{work}.")


# ---------------------------------------------------------------- the studio's other settings
# (the studio's one reader of RESSHIFT_* variables; the library's is resshift/settings.py)
ENV_VIDEO_SECONDS, ENV_VIDEO_PIXELS = "RESSHIFT_MAX_VIDEO_SECONDS", "RESSHIFT_MAX_VIDEO_PIXELS"
VIDEO_DEFAULTS = {"cpu": (10.0, 256 * 256), "cuda": (30.0, 640 * 360)}  # seconds, frame pixels


def video_limits(max_output_pixels: int, device_type: str = "cpu", env: Mapping[str, str] | None = None
                 ) -> VideoLimits:
    """This server's video limits: the defaults for ``device_type``, overridden by
    RESSHIFT_MAX_VIDEO_SECONDS / RESSHIFT_MAX_VIDEO_PIXELS when set; restored frames up to
    ``max_output_pixels`` (the image limit of the same name)."""
    env = os.environ if env is None else env
    seconds, pixels = VIDEO_DEFAULTS["cuda" if device_type == "cuda" else "cpu"]
    raw = env.get(ENV_VIDEO_SECONDS, "").strip()
    if raw:
        try:
            seconds = float(raw)
        except ValueError:
            raise ValueError(f"{ENV_VIDEO_SECONDS}={raw!r} is not valid: expected seconds") from None
        if not (seconds > 0 and math.isfinite(seconds)):
            raise ValueError(f"{ENV_VIDEO_SECONDS}={raw!r} is not valid: it must be positive")
    raw = env.get(ENV_VIDEO_PIXELS, "").strip()
    if raw:
        try:
            pixels = parse_pixels(raw)
        except ValueError as exc:
            raise ValueError(f"{ENV_VIDEO_PIXELS}={raw!r} is not valid: {exc}") from None
    return VideoLimits(max_seconds=seconds, max_pixels=pixels, max_output_pixels=max_output_pixels)


def switched_on(name: str, env: Mapping[str, str] | None = None) -> bool:
    """A studio switch (``RESSHIFT_MCP``, ``RESSHIFT_PRELOAD``, Spaces' ``SPACES_ZERO_GPU``): 1, true,
    yes or on."""
    return env_flag(name, env)
