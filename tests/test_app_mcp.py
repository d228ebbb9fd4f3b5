"""The studio as an MCP server: an MCP client lists one tool per task, with descriptions that say
units, ranges and defaults, and runs a super-resolution on a small image (tiny random models). The
page's endpoints are tools too, each named after its API name and described, parameter by
parameter; the REST API keeps its endpoints and parameters."""
import asyncio
import base64
import io
import re
from pathlib import Path

import pytest
from gradio_client import Client
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from PIL import Image

import app
from resshift.manager import ModelManager
from studio.limits import Limits
from tests.helpers import tiny_manager, tiny_model

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
AGENT_TOOLS = ("super_resolution", "inpainting", "face_restoration", "list_models")
FLAT_TOOLS = ("compare_runs", "batch_restore")
# the page's endpoints an MCP client cannot call (nested file schemas, the comparison's state): in the
# API, not listed as tools; compare_runs and batch_restore do their work
API_ONLY = ("compare_sr", "compare_inpaint", "compare_face", "batch_sr", "batch_inpaint", "batch_face", "inpaint")
# the page's endpoints and their parameters, as docs/api.md's API table lists them
PAGE_ENDPOINTS = {
    "super_resolve": ["image", "model", "steps", "kappa", "seed", "resample", "tile", "color_fix", "scale"],
    "compare_sr": ["image", "model", "steps", "kappa", "seed", "resample", "tile", "color_fix", "vary", "values",
                   "scale"],
    "super_resolve_video": ["video", "model", "steps", "kappa", "seed", "tile", "color_fix", "noise"],
    "batch_sr": ["files", "model", "steps", "kappa", "seed", "tile", "color_fix", "scale"],
    "inpaint": ["editor", "mask_upload", "model", "steps", "kappa", "seed", "resample", "tile", "color_fix",
                "image_name"],
    "compare_inpaint": ["editor", "mask_upload", "model", "steps", "kappa", "seed", "resample", "tile", "color_fix",
                        "vary", "values", "image_name"],
    "batch_inpaint": ["files", "model", "steps", "kappa", "seed", "tile", "color_fix"],
    "restore_face": ["image", "mode", "model", "steps", "kappa", "seed", "resample", "color_fix", "scale",
                     "background", "select", "min_face_size"],
    "compare_face": ["image", "mode", "model", "steps", "kappa", "seed", "resample", "color_fix", "scale",
                     "background", "select", "min_face_size", "vary", "values"],
    "restore_face_video": ["video", "mode", "model", "steps", "kappa", "seed", "color_fix", "scale", "background",
                           "select", "min_face_size", "noise"],
    "batch_face": ["files", "mode", "model", "steps", "kappa", "seed", "color_fix", "scale", "background", "select",
                   "min_face_size"],
}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """The studio's root URL (tiny models), served with MCP."""
    manager = ModelManager([], device="cpu", allow_download=False)
    for task in ("sr", "inpaint", "face"):
        manager.put(tiny_model(task))
    limits = Limits.defaults("cpu")
    demo = app.build_demo(manager, limits=limits, files_root=tmp_path_factory.mktemp("files"))
    app.serve(demo, limits, host="127.0.0.1", mcp=True)
    try:
        yield demo.local_url.rstrip("/")
    finally:
        demo.close()


@pytest.fixture(scope="module")
def url(base):
    return base + "/gradio_api/mcp/"


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


def test_every_endpoint_is_a_tool_named_after_its_api_name(base, url):
    api = Client(base, verbose=False).view_api(return_format="dict", print_info=False)["named_endpoints"]
    tools = asyncio.run(_session(url, lambda s: s.list_tools())).tools
    names = [t.name for t in tools]
    assert not [n for n in names if re.search(r"_\d+$", n)], names  # no clash suffixes (super_resolve_1)
    assert sorted(names) == sorted(e.lstrip("/") for e in api if e.lstrip("/") not in API_ONLY)
    assert sorted(names) == sorted([*(e for e in PAGE_ENDPOINTS if e not in API_ONLY), *AGENT_TOOLS, *FLAT_TOOLS])
    for endpoint, parameters in PAGE_ENDPOINTS.items():  # the REST API as before
        assert [p["parameter_name"] for p in api[f"/{endpoint}"]["parameters"]] == parameters, endpoint


def test_every_tool_and_parameter_is_described(url):
    tools = {t.name: t for t in asyncio.run(_session(url, lambda s: s.list_tools())).tools}
    for name, tool in tools.items():
        assert tool.description and not tool.description.startswith(" "), name
        for parameter, schema in tool.inputSchema["properties"].items():
            assert schema.get("description", "").strip(), f"{name}.{parameter}"
    for name, parameters in PAGE_ENDPOINTS.items():  # the schema lists the endpoint's own parameters
        if name in API_ONLY:
            continue
        assert list(tools[name].inputSchema["properties"]) == parameters, name
        assert "Returns:" in tools[name].description, name
    assert "video" in tools["super_resolve_video"].description
    assert "several" in tools["compare_runs"].description and ".zip" in tools["batch_restore"].description
    batch = tools["batch_restore"].inputSchema["properties"]
    assert ".zip" in batch["archive"]["description"] and "NAME_mask.png" in batch["archive"]["description"]
    face = tools["restore_face_video"].inputSchema["properties"]
    assert "1 (default), 2 or 4" in face["scale"]["description"] and "steady" in face["noise"]["description"]
    assert "4 (default), 3 or 2" in tools["super_resolve"].inputSchema["properties"]["scale"]["description"]


def test_the_tools_query_offers_only_the_four_task_tools(url):
    listing = asyncio.run(_session(url + "?tools=" + ",".join(AGENT_TOOLS), lambda s: s.list_tools()))
    assert sorted(t.name for t in listing.tools) == sorted(AGENT_TOOLS)


def test_a_page_tool_runs_its_endpoint(url):
    """The page's tools answer with one text: the endpoint's outputs, result files as URLs (Gradio
    6.31 turns only a tool's single file output into an image)."""
    small = Image.open(EXAMPLES / "sr" / "crowd_x4_lr.png").convert("RGB").crop((60, 40, 92, 64))
    result = asyncio.run(_session(url, lambda s: s.call_tool(
        "super_resolve", {"image": _data_uri(small), "model": "tiny-sr", "steps": 1, "seed": "3"})))
    assert not result.isError, result.content
    (text,) = [c.text for c in result.content]
    assert "tiny-sr_1s_k2_seed3_x4.png" in text and "/gradio_api/file=" in text
    assert "'size': '128x96'" in text and "'seed': 3" in text


def test_the_start_up_lines_give_the_mcp_urls(tmp_path, capsys):
    """With MCP on, the studio says where its task tools are (the URL narrowed to them); Gradio's own
    line gives the URL with every endpoint."""
    limits = Limits.defaults("cpu")
    demo = app.build_demo(tiny_manager("sr"), limits=limits, files_root=tmp_path / "files")
    app.serve(demo, limits, host="127.0.0.1", mcp=True)
    try:
        base = demo.local_url.rstrip("/") + "/gradio_api/mcp/"
        out = capsys.readouterr().out
        assert f"the four task tools: {base}?tools=super_resolution,inpainting,face_restoration,list_models\n" in out
        assert f"Streamable HTTP URL: {base}\n" in out
    finally:
        demo.close()


def test_list_models_refuses_an_unknown_task(url):
    result = asyncio.run(_session(url, lambda s: s.call_tool("list_models", {"task": "bogus"})))
    assert result.isError and "task must be one of sr, inpaint, face" in result.content[0].text


def _arguments(tmp_path) -> dict[str, dict]:
    """One small, valid call of every tool the studio lists (tiny models)."""
    import numpy as np

    from tests.media_clips import make_clip

    small = _data_uri(Image.open(EXAMPLES / "sr" / "crowd_x4_lr.png").convert("RGB").crop((60, 40, 84, 56)))
    face = _data_uri(Image.new("RGB", (64, 64), (150, 120, 100)))
    holes = np.zeros((16, 24), np.uint8)
    holes[4:10, 6:14] = 255
    mask = _data_uri(Image.fromarray(holes))
    archive = tmp_path / "two.zip"
    import zipfile

    with zipfile.ZipFile(archive, "w") as z:
        for name in ("a.png", "b.png"):
            buf = io.BytesIO()
            Image.new("RGB", (16, 12), (40, 90, 160)).save(buf, "PNG")
            z.writestr(name, buf.getvalue())
    zipped = "data:application/zip;base64," + base64.b64encode(archive.read_bytes()).decode()
    clip = make_clip(tmp_path / "clip.mp4", n=2, width=32, height=32)
    video = "data:video/mp4;base64," + base64.b64encode(Path(clip).read_bytes()).decode()
    one = {"steps": 1, "seed": "3"}
    return {
        "super_resolve": {"image": small, "model": "tiny-sr", **one, "scale": 2},
        "super_resolve_video": {"video": video, "model": "tiny-sr", **one},
        "restore_face": {"image": face, "mode": "aligned", "model": "tiny-face", **one},
        "restore_face_video": {"video": video, "mode": "aligned", "model": "tiny-face", **one},
        "super_resolution": {"image": small, "model": "tiny-sr", "steps": 1, "scale": 3},
        "inpainting": {"image": small, "mask": mask, "model": "tiny-inpaint", "steps": 1},
        "face_restoration": {"image": face, "whole_photo": False, "model": "tiny-face", "steps": 1},
        "list_models": {"task": "sr"},
        "compare_runs": {"image": small, "task": "sr", "vary": "steps", "values": "1,2", "model": "tiny-sr"},
        "batch_restore": {"archive": zipped, "task": "sr", "model": "tiny-sr", "steps": 1, "scale": 2},
    }


def test_every_listed_tool_can_be_called(url, tmp_path):
    """An MCP client lists the tools and calls each one: none fails on its own schema or outputs."""
    calls = _arguments(tmp_path)

    async def work(session):
        names = [t.name for t in (await session.list_tools()).tools]
        return names, {name: await session.call_tool(name, calls[name]) for name in names if name in calls}

    names, results = asyncio.run(_session(url, work))
    assert sorted(names) == sorted(calls), "a listed tool without a call here (or a call for no tool)"
    for name, result in results.items():
        assert not result.isError, (name, result.content)
    texts = {name: " ".join(getattr(c, "text", "") for c in r.content) for name, r in results.items()}
    assert "super_resolution_crowd_x4_lr" not in texts["super_resolution"]  # a data URI has no name
    assert "super_resolution_" in texts["super_resolution"] and "_x3.png" in texts["super_resolution"]
    assert "inpainting_" in texts["inpainting"] and "face_restoration_" in texts["face_restoration"]
    assert "_x2.png" in texts["super_resolve"] and "'scale': 2" in texts["super_resolve"]
    sheet = next(c for c in results["compare_runs"].content if c.type == "image")
    assert Image.open(io.BytesIO(base64.b64decode(sheet.data))).width > 2 * 96  # two results side by side
    assert "compare_sr_" in texts["compare_runs"] and "resshift_sr_batch.zip" in texts["batch_restore"]
    assert "Restored 2 of 2 images" in texts["batch_restore"]
