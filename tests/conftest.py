"""Test session settings: the tests never reach the internet (weights and detectors stay local)."""
import os

os.environ.setdefault("RESSHIFT_OFFLINE", "1")
