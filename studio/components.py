"""Gradio components adjusted for the studio."""
from __future__ import annotations

from typing import Callable

import gradio as gr
import numpy as np
from gradio.data_classes import FileData, ImageData

from resshift.media.image import DecodedImage, decode_image, to_uint8

from studio.errors import friendly_errors


class RawImage(gr.Image):
    """``gr.Image`` that hands the handler the uploaded file's path untouched.

    ``gr.Image(type="filepath")`` still opens the upload with Pillow before the handler runs, so a
    corrupt or oversized file fails inside Gradio with a generic error. This component skips that:
    the handler receives the path (or None) and the library decodes it, applying EXIF orientation
    and explaining in a sentence what is wrong with a bad file. In the browser it is the usual
    image component (upload, paste, drag and drop).
    """

    is_template = True  # rendered by the frontend's "image" component
    # (no __init__ override: Gradio reads the props it sends to the browser from gr.Image's signature)

    def preprocess(self, payload: ImageData | None) -> str | None:
        if payload is None or payload.path is None:
            return None
        return str(payload.path)


class CheckedImageEditor(gr.ImageEditor):
    """``gr.ImageEditor`` (type="numpy", image_mode="RGBA") whose images the library decodes.

    Gradio's editor opens its background, layers and composite with Pillow itself: a corrupt file
    fails with a generic error, a huge one is decoded before any limit applies, EXIF orientation is
    ignored and 16-bit or float images are clipped. Here each file is decoded once by ``decode``
    (set by the app after construction: :meth:`studio.handlers.Studio.decode_upload`, with the
    upload and pixel limits read from the header first; default :func:`resshift.media.image.decode_image`);
    any problem reaches the user as a sentence. Images come out as (H, W, 4) uint8 RGBA, alpha 255
    where the file has none (as Gradio's RGBA mode).
    """

    is_template = True  # rendered by the frontend's "imageeditor" component

    decode: Callable[[str | bytes], DecodedImage] = staticmethod(decode_image)

    def preprocess(self, payload):
        """Gradio's value, plus "name": the uploaded background file's name (None for the blank
        canvas or a paste), so results can keep it; and "files": the uploaded files it was read
        from (the handler holds them until the session is done with them: input_files.py)."""
        value = super().preprocess(payload)
        if value is not None and payload is not None:
            value["name"] = getattr(getattr(payload, "background", None), "orig_name", None)
            if payload.id is None:
                parts = (payload.background, *(payload.layers or ()), payload.composite)
                value["files"] = [str(p.path) for p in parts if p is not None and p.path]
        return value

    def convert_and_format_image(self, file: FileData | bytes | None, flatten_on_white: bool = False):
        if file is None or self.type != "numpy" or self.image_mode != "RGBA":
            return super().convert_and_format_image(file, flatten_on_white)
        source = file.path if isinstance(file, FileData) else bytes(file)
        with friendly_errors("reading the image"):
            decoded = self.decode(source)
        alpha = decoded.alpha if decoded.alpha is not None else np.ones(decoded.rgb.shape[:2], np.float32)
        return to_uint8(decoded.rgb, alpha)


# The editor re-encodes what it is given as "background.png": the chosen or dropped file's own name
# never reaches the server. This page script (``demo.launch(head=...)``) copies it into a hidden
# textbox beside the editor, which the inpainting events send with the editor (``image_name``), so
# the download is named after the uploaded image.
EDITOR_NAME_SCRIPT = """<script>
(() => {
  function remember(target, files) {
    if (!files || !files.length) return;
    for (const [editor, box] of Object.entries(__PAIRS__)) {
      const host = document.getElementById(editor);
      const field = document.querySelector(`#${box} textarea, #${box} input`);
      if (host && field && host.contains(target)) {
        field.value = files[0].name;
        field.dispatchEvent(new Event("input", {bubbles: true}));
      }
    }
  }
  window.addEventListener("change", (e) => remember(e.target, e.target.files), true);
  window.addEventListener("drop", (e) => remember(e.target, e.dataTransfer && e.dataTransfer.files), true);
})();
</script>"""


def editor_name_script(pairs: dict[str, str]) -> str:
    """The page script that names ``pairs``' editors' uploads ({editor's element id: hidden
    textbox's element id})."""
    import json

    return EDITOR_NAME_SCRIPT.replace("__PAIRS__", json.dumps(pairs))
