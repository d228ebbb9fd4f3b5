"""The README's lower-level Python example runs as printed (official architecture, random weights)."""
import contextlib
import io
import re

import pytest

from .helpers import ROOT


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


@pytest.mark.slow
def test_lower_level_example_runs():
    block = next(b for b in python_blocks() if "iter_sample(" in b)
    scope: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(block, "README.md", "exec"), scope)  # noqa: S102 - the README's own code
    # two trailing steps of the 4 trained: t = 3, then 1 (0-based), each with its x0 prediction
    assert printed.getvalue().split("\n")[:2] == ["0 3 torch.Size([1, 3, 64, 64])", "1 1 torch.Size([1, 3, 64, 64])"]
    assert scope["image"].shape == (1, 3, 256, 256)
