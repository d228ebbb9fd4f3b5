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
``RESSHIFT_MAX_COMPARE``           runs in one comparison                   4 / 8
``RESSHIFT_MAX_BATCH_IMAGES``      images in one batch (files or a zip)     16 / 64
``RESSHIFT_MAX_BATCH_PIXELS``      input pixels of one batch, all images    2048x2048 / 8192x8192
=================================  =======================================  =================

Pixel limits are written as ``WIDTHxHEIGHT`` (the limit is their product) or as a pixel count.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Mapping


from resshift.errors import InvalidRequest
from resshift.image_io import DecodedImage, ImageLike, ImageTooLargeError, decode_image, parse_pixels

TASK_NAMES = {"sr": "Super-resolution", "inpaint": "Inpainting", "face": "Face restoration"}
ENV_PIXELS = {"sr": "RESSHIFT_MAX_PIXELS_SR", "inpaint": "RESSHIFT_MAX_PIXELS_INPAINT",
              "face": "RESSHIFT_MAX_PIXELS_FACE"}


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
    max_batch_pixels: int = 2048 * 2048
    env_names: Mapping[str, str] = field(default_factory=lambda: MappingProxyType(dict(ENV_PIXELS)))

    def __post_init__(self) -> None:
        if self.max_upload_bytes < 1 or self.max_output_pixels < 1 or self.queue_size < 1:
            raise ValueError("upload, output and queue limits must be positive")
        if self.max_compare < 2:
            raise ValueError("a comparison needs at least 2 runs")
        if self.max_batch_images < 1 or self.max_batch_pixels < 1:
            raise ValueError("batch limits must be positive")
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
                       max_compare=8, hardware="GPU", max_batch_images=64, max_batch_pixels=8192 * 8192)
        return cls(max_upload_bytes=20 << 20,
                   max_pixels={"sr": 512 * 512, "inpaint": 768 * 768, "face": 1536 * 1536},
                   max_output_pixels=4096 * 4096, request_timeout=600.0, queue_size=16,
                   max_compare=4, hardware="CPU")

    @classmethod
    def from_env(cls, device_type: str = "cpu", env: Mapping[str, str] | None = None) -> "Limits":
        """The defaults for ``device_type``, overridden by the RESSHIFT_* variables that are set."""
        env = os.environ if env is None else env
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
        if (value := read("RESSHIFT_MAX_COMPARE", int)) is not None:
            changes["max_compare"] = value
        for name, key, convert in (("RESSHIFT_MAX_BATCH_IMAGES", "max_batch_images", int),
                                   ("RESSHIFT_MAX_BATCH_PIXELS", "max_batch_pixels", parse_pixels)):
            if (value := read(name, convert)) is not None:
                changes[key] = value
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

    def decode(self, task: str, source: ImageLike, scale: int = 1) -> DecodedImage:
        """Decode an input of ``task`` once, refused from its header (files) when over the pixel
        limits, with this server's sentence; ``scale``: the result is that much larger."""
        try:
            decoded = decode_image(source, max_pixels=self.max_pixels[task])
        except ImageTooLargeError as exc:
            if exc.size is None:  # Pillow's decompression-bomb guard
                raise self.refuse_huge(task, exc.limit) from None
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

    def summary(self) -> str:
        """One line for the page footer."""
        sizes = ", ".join(f"{TASK_NAMES[t].lower()} {describe_pixels(n).split(' (')[0]}"
                          for t, n in self.max_pixels.items())
        timeout = f"; {self.request_timeout:.0f} s per request" if self.request_timeout else ""
        return (f"Limits on this {self.hardware} server: uploads up to "
                f"{self.max_upload_bytes / (1 << 20):.0f} MB; inputs up to {sizes}{timeout}.")
