"""glibc's allocator settings for large tensors (resshift/runtime/malloc.py), in fresh processes."""
import os
import platform
import subprocess
import sys

import pytest

from tests.helpers import ROOT

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="the settings are glibc's")

SCRIPT = """
import resource, torch
from resshift.runtime.malloc import tune_malloc
print(tune_malloc())
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
conv = torch.nn.Conv2d(32, 32, 3, padding=1)
x = torch.randn(1, 32, 512, 512)  # 32 MiB maps, as in a network's forward pass
with torch.inference_mode():
    for i in range(5):
        if i == 1:
            start = faults()
        h = conv(torch.nn.functional.silu(conv(x))) + x
        del h
print(faults() - start)
"""


def _run(env_value: str | None) -> tuple[str, int]:
    env = dict(os.environ)
    env.pop("RESSHIFT_MALLOC", None)
    if env_value is not None:
        env["RESSHIFT_MALLOC"] = env_value
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    return out[0], int(out[1])


def test_large_tensors_are_reused_not_mapped_afresh():
    applied, tuned = _run(None)
    kept, default = _run("default")
    assert applied == "True" and kept == "False"
    # glibc's defaults: each new 32 MiB map faults in its 8192 pages again; tuned: the heap keeps them
    assert default > 4 * 3 * 8000
    assert tuned < default / 20
