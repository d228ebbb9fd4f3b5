"""The README's Python example and docs/library.md's lower-level one run as printed."""
import contextlib
import io
import re

import pytest

from tests.helpers import ROOT


def python_blocks(page: str = "README.md") -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / page).read_text(), flags=re.S)


@pytest.mark.slow
def test_lower_level_example_runs():
    """docs/library.md's lower-level example (official architecture, random weights)."""
    block = next(b for b in python_blocks("docs/library.md") if "iter_sample(" in b)
    scope: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block, "docs/library.md", "exec"), scope)  # noqa: S102 - the page's own code
    # two trailing steps of the 4 trained: t = 3, then 1 (0-based), each with its x0 prediction
    assert printed.getvalue().split("\n")[:2] == ["0 3 torch.Size([1, 3, 64, 64])", "1 1 torch.Size([1, 3, 64, 64])"]
    assert scope["image"].shape == (1, 3, 256, 256)


def test_library_example_runs_with_one_import(tmp_path, monkeypatch):
    """The README's first Python example: one import, the bundled models, real example images."""
    block = next(b for b in python_blocks() if b.startswith("import resshift\n"))
    readme = (ROOT / "README.md").read_text()
    assert readme.index("pip install -e .") < readme.index(block), "the install step comes before the example"
    assert block in python_blocks("docs/library.md"), "docs/library.md shows the same example"
    assert [line for line in block.splitlines() if line.startswith(("import ", "from "))] == ["import resshift"]
    for folder in ("sr", "inpaint", "face"):
        (tmp_path / "examples").mkdir(exist_ok=True)
        (tmp_path / "examples" / folder).symlink_to(ROOT / "examples" / folder)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RESSHIFT_DEVICE", "cpu")
    scope: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block, "README.md", "exec"), scope)  # noqa: S102 - the README's own code
    lines = printed.getvalue().splitlines()
    facts = eval(lines[0])  # noqa: S307 - the dict the example printed
    assert facts["model"] == "lite-sr" and facts["seed"] == 42 and facts["size"] == "720x476"
    assert (tmp_path / "crowd_x4.png").is_file()
    assert scope["filled"].image.shape == (256, 256, 3)
    assert lines[1].startswith("Restored ") and scope["photo"].scale == 2
    assert lines[2] == "steps must be between 1 and 4 for lite-sr (it was trained with 4); got 9"
