"""A check in the browser, before the inpainting editor takes an image: its pixel limit.

The image editor does not send the file it was given: it re-encodes its background, its layers
and their composite as PNGs, and uploads those when an event needs them. An image far over the
inpainting limit (a 6000x4000 photo) makes PNGs over the upload limit, which the server refuses
(HTTP 413) before any handler can explain why, and the page waits forever. So the page checks the
size of an image chosen or dropped on the editor first, and shows the server's own sentence for
one over the limit instead of handing it to the editor. (Within the limit the PNGs stay far below
the upload limit: 768x768 RGBA is at most 2.4 MB.) The server still checks everything it gets.
"""
from __future__ import annotations

import json

from .limits import Limits

# The function ``demo.launch(js=...)`` runs once the page is loaded. ``RULES``: {element id:
# {"limit": pixels, "message": sentence with {width}, {height} and {megapixels}}}.
_SCRIPT = """
() => {
  const RULES = __RULES__;
  const PASS = "resshiftChecked";

  function rule(target) {
    for (const id of Object.keys(RULES)) {
      const box = document.getElementById(id);
      if (box && box.contains(target)) return RULES[id];
    }
    return null;
  }

  function say(text) {
    const old = document.getElementById("resshift-upload-refused");
    if (old) old.remove();
    const note = document.createElement("div");
    note.id = "resshift-upload-refused";
    note.setAttribute("role", "alert");
    note.textContent = text;
    const close = document.createElement("button");
    close.textContent = "\\u00d7";
    close.setAttribute("aria-label", "Close");
    close.onclick = () => note.remove();
    note.appendChild(close);
    document.body.appendChild(note);
    setTimeout(() => note.remove(), 15000);
  }

  async function pixels(file) {
    try {
      const bitmap = await createImageBitmap(file);
      const size = [bitmap.width, bitmap.height];
      bitmap.close();
      return size;
    } catch (err) {
      return null;  // not an image the browser can open: let the editor say so
    }
  }

  // the files pass when every one is within the rule's limit (else the sentence is shown)
  async function allowed(files, r) {
    for (const file of files) {
      const size = await pixels(file);
      if (size && size[0] * size[1] > r.limit) {
        say(r.message.replace("{width}", size[0]).replace("{height}", size[1])
                     .replace("{megapixels}", (size[0] * size[1] / 1e6).toFixed(2)));
        return false;
      }
    }
    return true;
  }

  // a file chosen in the editor's file dialog
  window.addEventListener("change", async (event) => {
    const input = event.target;
    if (event[PASS] || !(input instanceof HTMLInputElement) || input.type !== "file") return;
    const r = rule(input);
    if (!r || !input.files || !input.files.length) return;
    event.stopImmediatePropagation();
    const files = [...input.files];
    if (await allowed(files, r)) {
      const again = new Event("change", {bubbles: true});
      again[PASS] = true;
      input.dispatchEvent(again);
    } else {
      input.value = "";
    }
  }, true);

  // a file dropped on the editor (its files are only readable while the event runs: copied)
  window.addEventListener("drop", async (event) => {
    if (event[PASS] || !event.dataTransfer || !event.dataTransfer.files.length) return;
    const r = rule(event.target);
    if (!r) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    const files = [...event.dataTransfer.files];
    if (await allowed(files, r)) {
      const data = new DataTransfer();
      files.forEach((f) => data.items.add(f));
      const again = new DragEvent("drop", {bubbles: true, cancelable: true, dataTransfer: data});
      again[PASS] = true;
      event.target.dispatchEvent(again);
    }
  }, true);
}
"""

CSS = """
#resshift-upload-refused {position: fixed; top: 1em; right: 1em; z-index: 1000; max-width: 28em;
  padding: 0.8em 2.2em 0.8em 1em; border: 1px solid #dc2626; border-left-width: 6px; border-radius: 6px;
  background: var(--background-fill-primary, white); color: var(--body-text-color, black);
  box-shadow: 0 4px 12px rgba(0, 0, 0, 0.15); font-size: 0.95em}
#resshift-upload-refused button {position: absolute; top: 0.3em; right: 0.5em; border: none;
  background: none; font-size: 1.2em; cursor: pointer; color: inherit}
"""


def guard_script(limits: Limits, editors: dict[str, str]) -> str:
    """The page-load function that checks images given to ``editors`` ({element id: task}) against
    the task's pixel limit, with the sentence :meth:`Limits.check_input` gives for it."""
    rules = {elem_id: {"limit": limits.max_pixels[task], "message": limits.input_template(task)}
             for elem_id, task in editors.items()}
    return _SCRIPT.replace("__RULES__", json.dumps(rules))
