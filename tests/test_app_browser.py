"""The studio in a real browser: Debian chromium driven by Playwright (tiny random models).

Super-resolution: upload, run, download. Inpainting: paint on the blank canvas and run at once (the
page must ask for an image), an image over the limit (refused in the page), an upload run without a
stroke (the page says why nothing ran) and a brush stroke that is repainted. Layout: the model
dropdown's text stops before its arrow, a 400 px window shows every tab, the page's own notice looks
like Gradio's messages. Console: nothing comes from the project's page script.

Every test opens a fresh page (its own browser context) and waits on what the page shows, never on
time, so a busy machine only makes it slower. And the machine is busy: the whole module runs beside
a CPU hog (one spinning process per core, at normal priority), so the studio, chromium and the
driver get about half the CPU they would have alone, the kind of machine on which two of these
tests once failed. Screenshots go to test-artifacts/ (git-ignored). Skipped when /usr/bin/chromium
is missing.
"""
import io
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from resshift.manager import ModelManager
from studio.upload_guard import SCRIPT_NAME
from tests.helpers import serve_studio, tiny_model

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
EXAMPLES = ROOT / "examples"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]
WAIT_MS = 180_000  # the longest any condition may take: on a busy 2-core machine a run takes a while
EDITOR = "#inpaint-editor"


@pytest.fixture(scope="module", autouse=True)
def cpu_hog():
    """One spinning process per core for the module's whole run."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
    try:
        yield hogs
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


@pytest.fixture(scope="module")
def studio_url(tmp_path_factory, cpu_hog):
    """The studio with tiny models (the tabs' defaults) beside the real catalog (its long labels)."""
    if not CHROMIUM.is_file():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
    manager = ModelManager(device="cpu", allow_download=False, max_loaded=3)
    for task in ("sr", "inpaint", "face"):
        manager.put(tiny_model(task))
    ARTIFACTS.mkdir(exist_ok=True)
    with serve_studio(manager, files_root=tmp_path_factory.mktemp("files")) as demo:
        yield demo.local_url


@pytest.fixture(scope="module")
def browser(studio_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def new_page(browser, studio_url):
    """Opens fresh pages (each in its own browser context), closed after the test.

    ``new_page(width, height, load=True)``: with ``load`` the page is on the studio, loaded;
    ``page.errors`` and ``page.console`` collect what the page logs from its start."""
    contexts = []

    def open_page(width: int = 1400, height: int = 1100, load: bool = True):
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        context.set_default_timeout(WAIT_MS)
        page = context.new_page()
        page.errors, page.console = [], []
        page.on("pageerror", lambda error: page.errors.append(error))
        page.on("console", lambda message: page.console.append(message))
        if load:
            page.goto(studio_url)
            page.locator("#sr-input").wait_for()
        return page

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


def _assert_clean(page) -> None:
    """No script error on the page, and nothing in the console from the project's own script."""
    assert not page.errors, [f"{e.message}\n{e.stack}" for e in page.errors]
    ours = [m.text for m in page.console if SCRIPT_NAME in (m.location.get("url") or "")]
    assert not ours


def _images_shown(page, selector: str, count: int) -> None:
    """Wait until ``selector`` holds ``count`` images or more, all loaded."""
    page.wait_for_function("([sel, n]) => { const imgs = [...document.querySelectorAll(sel + ' img')];"
                           " return imgs.length >= n"
                           " && imgs.every((i) => i.complete && i.naturalWidth > 0); }", arg=[selector, count])


def _download(page, selector: str) -> Image.Image:
    href = page.locator(f"{selector} a").first.get_attribute("href")
    url = href if href.startswith("http") else page.url.rstrip("/") + "/" + href.lstrip("/")
    with urllib.request.urlopen(url, timeout=30) as r:
        data = r.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(data))


# what makes text look alike: its computed font, size and colour
STYLE = ("(e) => { const s = getComputedStyle(e);"
         " return {font: s.fontFamily, size: s.fontSize, colour: s.color}; }")


def _toast(page, words: str):
    """Gradio's message box (toast), once shown; it must say ``words``."""
    toast = page.locator("[data-testid=toast-body]").first
    toast.wait_for()
    assert words in toast.inner_text()
    return toast


# ----------------------------------------------------------------------------- the image editor
def _open_editor(page) -> None:
    """The inpainting tab, once its editor is ready: Gradio draws the editor's toolbar only then."""
    page.get_by_role("tab", name="Inpainting").click()
    page.locator(f"{EDITOR} button[aria-label=Brush]").wait_for()


def _brush_stroke(page, x0: float, y: float, length: float, canvas=None) -> None:
    """A horizontal stroke with the brush, from (x0, y) in fractions of the editor's canvas."""
    brush = page.locator(f"{EDITOR} button[aria-label=Brush]")
    if "highlight" not in (brush.get_attribute("class") or ""):  # (an upload makes it the tool)
        brush.click()
        page.locator(f"{EDITOR} button[aria-label=Brush].highlight").wait_for()
    canvas = canvas or page.locator(f"{EDITOR} canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x, y = box["x"] + box["width"] * x0, box["y"] + box["height"] * y
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + box["width"] * length, y, steps=4)
    page.mouse.up()


# The mask preview's image: the editor's image dimmed to 45 %, the area to repaint tinted in the brush's
# colour (red over 150 there, at most 115 elsewhere). ``tinted``: whether to wait for a tinted area.
_PREVIEW_SHOWS = """(tinted) => {
    const label = [...document.querySelectorAll("[data-testid=block-label]")]
        .find((l) => l.textContent.trim() === "Preview (tinted = repaint)");
    const img = label && label.closest(".block").querySelector("img");
    if (!img || !img.complete || !img.naturalWidth) return false;
    if (!tinted) return true;
    const canvas = document.createElement("canvas");
    [canvas.width, canvas.height] = [img.naturalWidth, img.naturalHeight];
    const context = canvas.getContext("2d");
    context.drawImage(img, 0, 0);
    const rgba = context.getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 0; i < rgba.length; i += 4) if (rgba[i] > 150) return true;
    return false;
}"""


def _preview_shows(page, tinted: bool) -> None:
    """Wait until the mask preview shows the editor's image (with a tinted area, if ``tinted``): the
    page has then sent the editor's newest snapshot to the server."""
    page.wait_for_function(_PREVIEW_SHOWS, arg=tinted, polling=100)


def test_super_resolution_tab(page, tmp_path):
    src = tmp_path / "crowd.png"
    Image.open(EXAMPLES / "sr" / "crowd_x4_lr.png").crop((40, 30, 88, 62)).save(src)  # 48x32
    page.set_input_files("#sr-input input[type=file]", str(src))
    page.locator("#sr-input img").first.wait_for()
    page.click("#sr-run")
    page.locator("#sr-caption", has_text="tiny-sr").wait_for()
    _images_shown(page, "#sr-slider", 2)
    page.screenshot(path=str(ARTIFACTS / "studio_sr.png"), full_page=True)
    assert _download(page, "#sr-file").size == (192, 128)

    page.locator("#sr-scale label", has_text="2").click()  # x2: the x4 result downscaled
    page.click("#sr-run")
    page.locator("#sr-caption", has_text="×2").wait_for()
    assert _download(page, "#sr-file").size == (96, 64)
    assert "_x2.png" in page.locator("#sr-file a").first.get_attribute("href")

    seed = page.get_by_label("Seed (0 to 2^63-1; empty: a new one)").first
    seed.fill("abc")  # a run that fails: the caption and the file of the run before go
    page.click("#sr-run")
    _toast(page, "seed must be a whole number")
    page.wait_for_function("() => !document.querySelector('#sr-file a') && "
                           "!document.querySelector('#sr-caption').innerText.includes('tiny-sr')")
    page.screenshot(path=str(ARTIFACTS / "studio_sr_failed_run.png"), full_page=True)
    _assert_clean(page)


def test_a_comparison_shows_each_result_whole(page, tmp_path):
    """Two results of a comparison sit side by side, each whole inside the gallery (Gradio fits
    its columns to the count by default: two results were each as wide as half the page and cut
    off at the gallery's height)."""
    src = tmp_path / "crowd.png"
    Image.open(EXAMPLES / "sr" / "crowd_x4_lr.png").crop((40, 30, 88, 62)).save(src)  # 48x32
    page.set_input_files("#sr-input input[type=file]", str(src))
    page.locator("#sr-input img").first.wait_for()
    page.click("#sr-compare")  # the accordion opens
    page.fill("#sr-compare-values textarea, #sr-compare-values input", "1,2")
    page.click("#sr-compare-run")
    _images_shown(page, "#sr-compare-gallery", 2)
    page.screenshot(path=str(ARTIFACTS / "studio_compare.png"), full_page=True)
    boxes = page.evaluate("""() => {
        const gallery = document.querySelector('#sr-compare-gallery .grid-wrap') ||
                        document.querySelector('#sr-compare-gallery');
        const outer = gallery.getBoundingClientRect();
        return [...document.querySelectorAll('#sr-compare-gallery img')].map((img) => {
            const r = img.getBoundingClientRect();
            return [r.top - outer.top, outer.bottom - r.bottom, r.width, outer.width];
        });
    }""")
    assert len(boxes) == 2
    for above, below, width, outer in boxes:
        assert above >= 0 and below >= 0, boxes  # whole inside the gallery
        assert width <= outer / 3, boxes  # four columns, not two
    _assert_clean(page)


def test_inpainting_a_blank_canvas_asks_for_an_image(page):
    """Painting on the editor's canvas with no image in it, then running at once: the page says to
    add one. (Run pressed right after the stroke sent the editor's empty first snapshot, and the page
    asked for an image in other words: drop a file on the input...)"""
    _open_editor(page)
    _brush_stroke(page, 0.4, 0.5, 0.1)
    page.locator(f"{EDITOR} button[aria-label=Undo]:enabled").wait_for()  # the editor took the stroke
    page.click("#inpaint-run")
    _toast(page, "the canvas is blank")
    page.screenshot(path=str(ARTIFACTS / "studio_inpaint_blank_canvas.png"), full_page=True)
    assert page.locator("#inpaint-slider img").count() == 0
    _assert_clean(page)


def test_inpainting_an_image_over_the_limit_is_refused_in_the_page(page, tmp_path):
    """The editor re-encodes what it is given as PNGs that can exceed the upload limit; the page
    checks the image's pixels first and says what the server would (768x768 for inpainting here),
    in a notice that looks like Gradio's own messages."""
    big = tmp_path / "big.png"
    Image.new("RGB", (1000, 800), (90, 120, 150)).save(big)  # 800 kpixels, a few kB
    _open_editor(page)
    page.click("#inpaint-run")  # a message of Gradio's own, to compare the notice with
    toast = _toast(page, "Add an image first")
    gradio_text = toast.locator("[data-testid=toast-text]").evaluate(STYLE)
    toast.locator("[data-testid=toast-close]").click()
    toast.wait_for(state="detached")

    file_input = page.locator(f"{EDITOR} input[type=file]")
    file_input.set_input_files(str(big))
    note = page.locator("#resshift-upload-refused")
    note.wait_for()
    assert "This image is 1000x800 pixels (0.80 megapixels). Inpainting here accepts inputs up to " \
           "768x768" in note.inner_text()
    # the notice reads like Gradio's messages (it was Arial in a red box); it closes itself after 15 s
    assert note.evaluate(STYLE)["font"] == gradio_text["font"]
    assert note.locator(".resshift-notice-text").evaluate(STYLE) == gradio_text
    assert gradio_text["font"] == page.locator(".gradio-container").evaluate(STYLE)["font"]
    box = note.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"]
    page.screenshot(path=str(ARTIFACTS / "studio_inpaint_over_limit.png"))
    note.locator("button").click()
    # refused before the editor's own handler ran: the page never passed the file on
    assert file_input.evaluate("(input) => input.value") == ""
    assert "Upload an image" in page.locator(EDITOR).inner_text()
    assert note.count() == 0

    # the same image dropped on the editor
    page.evaluate("""async () => {
        const canvas = new OffscreenCanvas(1000, 800);
        canvas.getContext("2d").fillRect(0, 0, 10, 10);
        const file = new File([await canvas.convertToBlob()], "big.png", {type: "image/png"});
        const data = new DataTransfer();
        data.items.add(file);
        const target = document.querySelector("#inpaint-editor canvas") || document.querySelector("#inpaint-editor");
        target.dispatchEvent(new DragEvent("drop", {bubbles: true, cancelable: true, dataTransfer: data}));
    }""")
    note.wait_for()
    assert "This image is 1000x800 pixels" in note.inner_text()
    assert "Upload an image" in page.locator(EDITOR).inner_text()
    note.locator("button").click()
    _assert_clean(page)


def test_inpainting_tab_brush_stroke(page, tmp_path):
    src = tmp_path / "face.png"
    face = Image.open(EXAMPLES / "inpaint" / "face_256.png").convert("RGB").resize((128, 128))
    face.save(src)
    _open_editor(page)
    page.set_input_files(f"{EDITOR} input[type=file]", str(src))
    _preview_shows(page, tinted=False)

    page.click("#inpaint-run")  # no stroke yet: a message, no result
    _toast(page, "Nothing to repaint")
    page.screenshot(path=str(ARTIFACTS / "studio_inpaint_no_stroke.png"), full_page=True)
    assert page.locator("#inpaint-slider img").count() == 0

    _brush_stroke(page, 0.4, 0.7, 0.225, canvas=page.locator(f"{EDITOR} canvas").last)
    _preview_shows(page, tinted=True)
    page.click("#inpaint-run")
    page.locator("#inpaint-caption", has_text="tiny-inpaint").wait_for()
    _images_shown(page, "#inpaint-slider", 2)
    page.screenshot(path=str(ARTIFACTS / "studio_inpaint.png"), full_page=True)
    # the download is named after the uploaded image (the editor itself calls it "background")
    assert "/face_tiny-inpaint_" in page.locator("#inpaint-file a").first.get_attribute("href")

    out = np.asarray(_download(page, "#inpaint-file").convert("RGB"))
    ref = np.asarray(face)
    same = (out == ref).all(axis=2)
    assert out.shape == ref.shape
    assert same[:40].all()  # far from the stroke: the uploaded pixels, exactly
    assert 0.5 < same.mean() < 1.0  # the stroke was repainted, the rest kept
    _assert_clean(page)


# ----------------------------------------------------------------------------- layout
def test_model_dropdown_text_stops_before_its_arrow(new_page):
    """A long model name (the face tab's lite-face) was cut and drawn over by the dropdown's arrow."""
    page = new_page(width=1024, height=900)
    page.get_by_role("tab", name="Face restoration").click()
    model = page.get_by_label("Model", exact=True).filter(visible=True)
    model.click()
    option = page.get_by_role("option", name="lite-face")
    option.click()
    page.wait_for_function("(input) => input.value.startsWith('lite-face')", arg=model.element_handle())
    option.wait_for(state="hidden")  # the list closed
    page.screenshot(path=str(ARTIFACTS / "studio_face_model_dropdown.png"))
    for dropdown in page.locator("input[role=combobox]").filter(visible=True).all():
        text_right, arrow_left, cut = dropdown.evaluate("""(input) => {
            const s = getComputedStyle(input), arrow = input.parentElement.querySelector('.icon-wrap');
            return [input.getBoundingClientRect().right - parseFloat(s.paddingRight),
                    arrow.getBoundingClientRect().left, s.textOverflow]; }""")
        assert text_right <= arrow_left, dropdown.input_value()
        assert cut == "ellipsis"
    assert model.evaluate("(input) => input.scrollWidth > input.clientWidth")  # long enough to be cut
    _assert_clean(page)


def test_every_tab_shows_in_a_narrow_window(new_page):
    """At 400 px the Inpainting and Face tabs went behind a "⋯" menu; now they wrap to a second row."""
    page = new_page(width=400, height=900)
    page.screenshot(path=str(ARTIFACTS / "studio_400px.png"))
    tabs = page.get_by_role("tab")
    assert [t.inner_text() for t in tabs.all() if t.is_visible()] == \
        ["Super-resolution ×4", "Inpainting", "Face restoration"]
    for tab in tabs.all():
        box = tab.bounding_box()
        assert 0 <= box["x"] and box["x"] + box["width"] <= 400
    assert not page.get_by_role("button", name="More tabs").is_visible()
    page.get_by_role("tab", name="Face restoration").click()
    page.locator("#face-input").wait_for()
    _assert_clean(page)


# ----------------------------------------------------------------------------- console
def test_console_has_nothing_from_the_page_script(new_page, studio_url, tmp_path):
    """Issue: two "Method not implemented." warnings in the console. They come with every upload
    into an image input, from Gradio's client (its stand-in for EventSource, closed by the upload
    progress), not from the project's page script, which logs nothing."""
    page = new_page(load=False)
    scripts: list[str] = []
    cdp = page.context.new_cdp_session(page)
    cdp.on("Debugger.scriptParsed", lambda event: scripts.append(event.get("url", "")))
    cdp.send("Debugger.enable")
    page.goto(studio_url)
    page.locator("#sr-input").wait_for()

    small = tmp_path / "small.png"
    Image.new("RGB", (48, 32), (90, 120, 150)).save(small)
    page.set_input_files("#sr-input input[type=file]", str(small))
    page.locator("#sr-input img").first.wait_for()
    _open_editor(page)
    page.set_input_files(f"{EDITOR} input[type=file]", str(small))  # checked by the script, passed on
    _preview_shows(page, tinted=False)
    assert SCRIPT_NAME in scripts  # the page script ran under its name: the checks below can see it
    stubs = [m for m in page.console if m.text == "Method not implemented."]
    assert all("/assets/" in m.location["url"] for m in stubs), [m.location for m in stubs]
    _assert_clean(page)
