"""The studio as an MCP server: an MCP client lists one tool per task, with descriptions that say
units, ranges and defaults, and runs a super-resolution on a small image (tiny random models)."""
import asyncio
import base64
import io
from pathlib import Path

import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from PIL import Image

import app
from resshift.manager import ModelManager
from studio.limits import Limits
from tests.helpers import tiny_model

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    manager = ModelManager([], device="cpu", allow_download=False)
    for task in ("sr", "inpaint", "face"):
        manager.put(tiny_model(task))
    limits = Limits.defaults("cpu")
    demo = app.build_demo(manager, limits=limits, files_root=tmp_path_factory.mktemp("files"))
    app.serve(demo, limits, host="127.0.0.1", mcp=True)
    try:
        yield demo.local_url.rstrip("/") + "/gradio_api/mcp/"
    finally:
        demo.close()


def _data_uri(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


async def _session(url: str, work):
    async with streamable_http_client(url) as (read, write, _):
        async with ClientSession(read, write) as session:
            await session.initialize()
            return await work(session)


def test_one_tool_per_task_with_units_ranges_and_defaults(url):
    tools = {t.name: t for t in asyncio.run(_session(url, lambda s: s.list_tools())).tools}
    assert {"super_resolution", "inpainting", "face_restoration", "list_models"} <= set(tools)
    sr = tools["super_resolution"]
    assert "4x" in sr.description
    props = sr.inputSchema["properties"]
    assert "from 0.1 to 8" in props["kappa"]["description"] and "0 to 2^63-1" in props["seed"]["description"]
    assert props["seed"]["default"] == 42 and "1 to the model's trained steps" in props["steps"]["description"]
    assert "mask" in tools["inpainting"].inputSchema["required"]
    assert "1, 2 or 4" in tools["face_restoration"].inputSchema["properties"]["scale"]["description"]


def test_a_super_resolution_call_returns_the_image(url):
    small = Image.open(EXAMPLES / "sr" / "crowd_x4_lr.png").convert("RGB").crop((60, 40, 92, 64))

    async def work(session):
        listing = await session.call_tool("list_models", {"task": "sr"})
        result = await session.call_tool("super_resolution", {"image": _data_uri(small), "model": "tiny-sr",
                                                               "steps": 1, "seed": 3})
        return listing, result

    listing, result = asyncio.run(_session(url, work))
    assert "tiny-sr | sr | 4 steps | loaded" in listing.content[0].text
    assert not result.isError, result.content
    image = next(c for c in result.content if c.type == "image")
    assert Image.open(io.BytesIO(base64.b64decode(image.data))).size == (128, 96)


def test_a_wrong_request_gets_the_sentence(url):
    small = Image.new("RGB", (16, 16), (90, 120, 200))
    result = asyncio.run(_session(url, lambda s: s.call_tool(
        "super_resolution", {"image": _data_uri(small), "model": "tiny-sr", "steps": 9})))
    assert result.isError
    assert "Steps must be between 1 and 4 for tiny-sr" in " ".join(getattr(c, "text", "") for c in result.content)
