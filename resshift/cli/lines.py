"""What the command line prints on stdout: one JSON object per result, one per line, and nothing
else, so a script reads every line with ``json.loads``. Sentences for a person (skipped files,
errors, the progress bar, log lines) go to stderr."""
from __future__ import annotations

import json
from pathlib import Path


def result_line(source: Path, target: Path, facts: dict) -> str:
    """A result as one JSON line: ``{"input": SOURCE, "output": TARGET, **facts}``, the paths as the
    command line named them (``facts``: ``RestoreResult.facts()``, which has no such keys)."""
    return json.dumps({"input": str(source), "output": str(target), **facts})


def skipped_line(name: str, reason: str) -> str:
    """An input that failed, for stderr: ``skipped NAME: reason``."""
    return f"skipped {name}: {reason}"
