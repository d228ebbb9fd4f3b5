"""What the page says about its models, above the tabs: plainly what the bundled models are, which
models give ResShift's real quality and what they cost here, and how a background fetch is going.

Three situations: a GPU fetching (or done fetching) the official models; a CPU server that can
download them (the bundled models are the default: the official ones take minutes per image
there); an offline server (only what is on disk).
"""
from __future__ import annotations

from resshift.catalog import PREFERENCE, availability, download_bytes, files_availability, parameter_count
from resshift.manager import ModelManager
from studio.prefetch import Prefetch

# measured on 2-core AMD EPYC and Intel Xeon CPUs, official architecture, float32 (benchmarks/RESULTS.md)
CPU_TIME = "on a 2-core CPU, about 4 s for a 64×64 input and over a minute for 256×256"


def _officials(manager: ModelManager) -> list[str]:
    return [PREFERENCE[t][0] for t in PREFERENCE if PREFERENCE[t][0] in manager.specs]


def _lites(manager: ModelManager) -> list[str]:
    """The bundled models (the tasks' lite models first, then the others, e.g. lite-sr-bicubic),
    loaded or not."""
    bundled = [n for n, s in manager.specs.items() if s.weight_files and all(f.bundled for f in s.weight_files)]
    first = [PREFERENCE[t][1] for t in PREFERENCE if PREFERENCE[t][1] in bundled]
    return first + [n for n in bundled if n not in first]


def _files(manager: ModelManager, names: list[str]) -> str:
    """The weight files of ``names`` (models not loaded) that are not on this machine, each once."""
    files = dict.fromkeys(f.filename for n in names for f in manager.spec(n).weight_files
                          if files_availability(manager, [f]) not in ("local", "bundled", "cached"))
    return ", ".join(files)


def notice(manager: ModelManager, prefetch: Prefetch | None = None) -> str:
    """The notice as Markdown ('' when there is nothing to say: official models ready on a GPU)."""
    officials = _officials(manager)
    if not officials:
        return ""
    sizes = {name: download_bytes(manager.spec(name)) for name in officials}
    needed = [n for n in officials if availability(manager, n) not in ("loaded", "local", "bundled", "cached")]
    lites = _lites(manager)
    millions = max((parameter_count(manager.spec(n)) for n in lites), default=0) / 1e6
    lite_words = (f"**The bundled models ({', '.join(lites)}) are small preview models** (under {millions:.0f} M "
                  "parameters each, trained by this project): quick, but far below the official models.")
    states = prefetch.status() if prefetch is not None else []
    if states:
        if prefetch.running:
            return ("**Fetching the official ResShift models** in the background: "
                    + " · ".join(s.describe() for s in states)
                    + ". The bundled preview models work meanwhile; a run of a model still being fetched "
                      "waits for its download.")
        failed = [s for s in states if s.state == "failed"]
        if failed:
            return (" · ".join(s.describe() for s in failed) + ". " + lite_words
                    + " Put the official weight files in the weights folder (--weights-dir) to use them.")
        return ""
    if not needed:
        return ""
    wanted = ", ".join(f"{n} ({sizes[n] / 1e9:.1f} GB)" for n in needed)
    if not manager.can_download:
        cost = f"; {CPU_TIME}" if manager.device.type == "cpu" else ""
        why = "does not download" if not manager.allow_download else \
            f"cannot download: {manager.no_connection}"
        return (lite_words + f" ResShift's real quality comes from the official models {wanted}{cost}. This "
                f"server {why}: to use them, put their weight files ({_files(manager, needed)}) in "
                "its weights folder (--weights-dir).")
    where = f"; {CPU_TIME}" if manager.device.type == "cpu" else ""
    return (lite_words + f" ResShift's real quality comes from the official models: pick {wanted} in a "
            f"tab's model list (downloaded on first use{where}).")
