"""Test session settings: the tests never reach the internet (weights and detectors stay local),
and tests may put random weights under the official file names (size/SHA-256 pins off; the tests
of the pins turn them back on)."""
import os

os.environ.setdefault("RESSHIFT_OFFLINE", "1")
os.environ.setdefault("RESSHIFT_VERIFY_WEIGHTS", "0")
