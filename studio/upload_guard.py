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

from studio.limits import Limits

# The name the browser gives the script (console messages and error stacks show it), for tests.
SCRIPT_NAME = "resshift-upload-guard.js"

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

  // a notice that looks like Gradio's own error messages (same font, colours and place)
  function say(text) {
    const old = document.getElementById("resshift-upload-refused");
    if (old) old.remove();
    const note = document.createElement("div");
    note.id = "resshift-upload-refused";
    note.setAttribute("role", "alert");
    const title = document.createElement("div");
    title.className = "resshift-notice-title";
    title.textContent = "Cannot use this image";
    const body = document.createElement("div");
    body.className = "resshift-notice-text";
    body.textContent = text;
    const close = document.createElement("button");
    close.textContent = "\\u00d7";
    close.setAttribute("aria-label", "Close");
    close.onclick = () => note.remove();
    note.append(title, body, close);
    (document.querySelector(".gradio-container") || document.body).appendChild(note);
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

# The notice takes the theme's font, colours and sizes, and the place of Gradio's messages (toasts).
CSS = """
#resshift-upload-refused {position: fixed; top: calc(var(--size-4) + var(--size-3)); right: var(--size-3);
  z-index: var(--layer-top); box-sizing: border-box; width: calc(var(--size-96) + var(--size-10));
  max-width: calc(100vw - 2 * var(--size-3));
  padding: var(--size-3) var(--size-10) var(--size-3) var(--size-4);
  border: 1px solid var(--border-color-primary); border-radius: var(--radius-sm);
  background: var(--background-fill-primary); box-shadow: var(--shadow-drop); color: var(--body-text-color);
  font-family: var(--font)}
#resshift-upload-refused .resshift-notice-title {color: var(--color-red-500); font-weight: var(--weight-bold);
  font-size: var(--text-lg); margin-bottom: var(--size-2)}
#resshift-upload-refused .resshift-notice-text {font-size: var(--text-md); line-height: 1.5;
  overflow-wrap: break-word}
#resshift-upload-refused button {position: absolute; top: var(--size-2); right: var(--size-3); border: none;
  background: none; font: inherit; font-size: var(--text-xl); cursor: pointer;
  color: var(--body-text-color-subdued)}
"""


def guard_script(limits: Limits, editors: dict[str, str]) -> str:
    """The page-load function that checks images given to ``editors`` ({element id: task}) against
    the task's pixel limit, with the sentence :meth:`Limits.check_input` gives for it."""
    rules = {elem_id: {"limit": limits.max_pixels[task], "message": limits.input_template(task)}
             for elem_id, task in editors.items()}
    return _SCRIPT.replace("__RULES__", json.dumps(rules)) + f"\n//# sourceURL={SCRIPT_NAME}\n"
