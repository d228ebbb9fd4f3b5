"""The studio in a real browser: Debian chromium driven by Playwright (tiny random models).

Uploads an image on the super-resolution tab and runs it; on the inpainting tab, paints on the blank
canvas and runs (the page must ask for an image), then uploads one, runs without a stroke (the page
must say why nothing ran), then draws a brush stroke on the editor's canvas and runs. Screenshots go to test-artifacts/ (git-ignored). Skipped when /usr/bin/chromium is missing.
"""
import io
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import app
from resshift.manager import ModelManager
from studio.limits import Limits
from tests.helpers import tiny_model

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
EXAMPLES = ROOT / "examples"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--no-first-run"]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    if not CHROMIUM.is_file():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
    manager = ModelManager([], device="cpu", allow_download=False)
    for task in ("sr", "inpaint", "face"):
        manager.put(tiny_model(task))
    limits = Limits.defaults("cpu")
    demo = app.build_demo(manager, limits=limits, files_root=tmp_path_factory.mktemp("files"))
    demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True, **app.launch_kwargs(limits))
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
            pg = browser.new_page(viewport={"width": 1400, "height": 1100})
            errors: list[str] = []
            pg.on("pageerror", lambda e: errors.append(str(e)))
            pg.goto(demo.local_url)
            pg.wait_for_selector("#sr-input", timeout=30000)
            pg.errors = errors
            yield pg
            browser.close()
    finally:
        demo.close()


def _download(pg, selector: str) -> Image.Image:
    href = pg.locator(f"{selector} a").first.get_attribute("href")
    url = href if href.startswith("http") else pg.url.rstrip("/") + "/" + href.lstrip("/")
    with urllib.request.urlopen(url, timeout=30) as r:
        data = r.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return Image.open(io.BytesIO(data))


def test_super_resolution_tab(page, tmp_path):
    src = tmp_path / "crowd.png"
    Image.open(EXAMPLES / "sr" / "crowd_x4_lr.png").crop((40, 30, 88, 62)).save(src)  # 48x32
    page.set_input_files("#sr-input input[type=file]", str(src))
    page.locator("#sr-input img").first.wait_for(timeout=15000)
    page.click("#sr-run")
    page.wait_for_function("document.querySelectorAll('#sr-slider img').length >= 2", timeout=60000)
    page.locator("#sr-caption", has_text="tiny-sr").wait_for(timeout=15000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "studio_sr.png"), full_page=True)
    assert _download(page, "#sr-file").size == (192, 128)
    assert not page.errors


def test_inpainting_a_blank_canvas_asks_for_an_image(page):
    """Painting on the editor's canvas with no image in it, then running: the page says to add one."""
    page.get_by_role("tab", name="Inpainting").click()
    page.locator("#inpaint-editor").wait_for(state="visible")
    page.wait_for_timeout(1000)
    page.click("#inpaint-editor button[aria-label=Brush]")
    page.wait_for_timeout(300)
    box = page.locator("#inpaint-editor canvas").first.bounding_box()
    x, y = box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.5
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, 12):
        page.mouse.move(x + i * 4, y, steps=2)
    page.mouse.up()
    page.wait_for_timeout(1500)
    page.click("#inpaint-run")
    page.get_by_text("the canvas is blank").first.wait_for(timeout=30000)
    page.screenshot(path=str(ARTIFACTS / "studio_inpaint_blank_canvas.png"), full_page=True)
    assert page.locator("#inpaint-slider img").count() == 0
    page.reload()  # a fresh page for the next test
    page.wait_for_selector("#sr-input", timeout=30000)


def test_inpainting_an_image_over_the_limit_is_refused_in_the_page(page, tmp_path):
    """The editor re-encodes what it is given as PNGs that can exceed the upload limit; the page
    checks the image's pixels first and says what the server would (768x768 for inpainting here)."""
    big = tmp_path / "big.png"
    Image.new("RGB", (1000, 800), (90, 120, 150)).save(big)  # 800 kpixels, a few kB
    page.get_by_role("tab", name="Inpainting").click()
    page.locator("#inpaint-editor").wait_for(state="visible")
    page.wait_for_timeout(1000)
    page.set_input_files("#inpaint-editor input[type=file]", str(big))
    note = page.locator("#resshift-upload-refused")
    note.wait_for(timeout=15000)
    assert "This image is 1000x800 pixels (0.80 megapixels). Inpainting here accepts inputs up to " \
           "768x768" in note.inner_text()
    page.screenshot(path=str(ARTIFACTS / "studio_inpaint_over_limit.png"))
    page.wait_for_timeout(1000)
    assert "Upload an image" in page.locator("#inpaint-editor").inner_text()  # the editor never took it
    note.locator("button").click()
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
    note.wait_for(timeout=15000)
    assert "This image is 1000x800 pixels" in note.inner_text()
    page.wait_for_timeout(1000)
    assert "Upload an image" in page.locator("#inpaint-editor").inner_text()
    note.locator("button").click()
    assert not page.errors


def test_inpainting_tab_brush_stroke(page, tmp_path):
    src = tmp_path / "face.png"
    face = Image.open(EXAMPLES / "inpaint" / "face_256.png").convert("RGB").resize((128, 128))
    face.save(src)
    page.get_by_role("tab", name="Inpainting").click()
    page.locator("#inpaint-editor").wait_for(state="visible")
    page.wait_for_timeout(1000)  # let the editor finish mounting before it gets a file
    page.set_input_files("#inpaint-editor input[type=file]", str(src))
    page.wait_for_function(
        "!document.querySelector('#inpaint-editor').innerText.includes('Upload an image')", timeout=15000)
    page.wait_for_timeout(1000)
    canvas = page.locator("#inpaint-editor canvas").last

    page.click("#inpaint-run")  # no stroke yet: a message, no result
    page.get_by_text("Nothing to repaint").first.wait_for(timeout=15000)
    page.screenshot(path=str(ARTIFACTS / "studio_inpaint_no_stroke.png"), full_page=True)
    assert page.locator("#inpaint-slider img").count() == 0

    canvas.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    box = canvas.bounding_box()
    x0, y = box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.7
    page.mouse.move(x0, y)
    page.mouse.down()
    for i in range(1, 16):
        page.mouse.move(x0 + i * box["width"] * 0.015, y, steps=2)
    page.mouse.up()
    page.wait_for_timeout(1500)
    page.click("#inpaint-run")
    page.wait_for_function("document.querySelectorAll('#inpaint-slider img').length >= 2", timeout=60000)
    page.locator("#inpaint-caption", has_text="tiny-inpaint").wait_for(timeout=15000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "studio_inpaint.png"), full_page=True)

    out = np.asarray(_download(page, "#inpaint-file").convert("RGB"))
    ref = np.asarray(face)
    same = (out == ref).all(axis=2)
    assert out.shape == ref.shape
    assert same[:40].all()  # far from the stroke: the uploaded pixels, exactly
    assert 0.5 < same.mean() < 1.0  # the stroke was repainted, the rest kept
    assert not page.errors
