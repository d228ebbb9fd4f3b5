"""Test session settings: the tests never reach the internet (weights and detectors stay local),
and tests may put random weights under the official file names (size/SHA-256 pins off; the tests
of the pins turn them back on). OpenMP's threads sleep rather than spin while they wait
(``OMP_WAIT_POLICY=PASSIVE``, read when torch loads, so set here first): on a machine that is busy
with other work, spinning threads fight over the cores and a run takes many times longer; the
subprocesses the tests start (CLI, app) inherit it."""
import os

os.environ.setdefault("RESSHIFT_OFFLINE", "1")
os.environ.setdefault("RESSHIFT_VERIFY_WEIGHTS", "0")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Gradio notices a closed page or client at its next heartbeat (15 s by default): a second here, so
# the tests of what happens when a session ends wait a second, not fifteen (GRADIO_HEARTBEAT_INTERVAL)
os.environ.setdefault("GRADIO_HEARTBEAT_INTERVAL", "1")


import pytest  # noqa: E402
import torch  # noqa: E402  (after OMP_WAIT_POLICY is set)


@pytest.fixture
def one_thread():
    """Tiny networks run fastest on one thread (and do not stall when the other core is busy):
    ``pytestmark = pytest.mark.usefixtures("one_thread")`` in a test module."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
