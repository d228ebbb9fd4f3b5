"""Gradio components adjusted for the studio."""
from __future__ import annotations

import gradio as gr
from gradio.data_classes import ImageData


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
