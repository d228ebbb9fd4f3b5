"""Peak CPU memory (RSS) of one studio request at each task's largest allowed input.

    python -m benchmarks.memory                # every case, each in a fresh process, bundled lite models
    python -m benchmarks.memory --case sr      # one case, in this process (prints one JSON line)

Run from the repository root on a CPU machine (about half a minute a case on 2 cores).

Each case runs the studio's handler (limits check, decoding, the pipeline, the PNGs written) with
the CPU default limits (studio/limits.py) on CPU, offline (bundled models, YuNet face detector). Printed per case: RSS after loading the model
(baseline), the process's peak RSS (``ru_maxrss``) and the growth of the peak over the baseline.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.load_test import rss_mb

ROOT = Path(__file__).resolve().parents[1]

# case -> what it runs; the sizes are the CPU default limits
CASES = {
    "sr": "super-resolution x4, 512x512 -> 2048x2048 (lite-sr, 4 steps)",
    "inpaint": "inpainting 768x768, a quarter masked (lite-inpaint, 4 steps)",
    "face": "aligned face 512x512 (lite-face, 4 steps)",
    "photo": "whole photo 1536x1536 with faces, output scale 2 -> 3072x3072 (lite-face, 4 steps)",
}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KB on Linux


def _mosaic(side: int) -> Image.Image:
    """A side x side photo made of the test group photos (many faces), to fill the face limit."""
    names = ["group6_group_18.jpg", "group5_group_19.jpg", "portrait_deepface_img12.jpg"]
    photos = [Image.open(ROOT / "tests" / "data" / "faces" / n).convert("RGB") for n in names]
    canvas, y, i = Image.new("RGB", (side, side), (128, 128, 128)), 0, 0
    while y < side:
        x, row = 0, 0
        while x < side:
            p = photos[i % len(photos)]
            p = p.resize((side // 2, round(p.height * (side // 2) / p.width)), Image.LANCZOS)
            canvas.paste(p, (x, y))
            x, row, i = x + p.width, max(row, p.height), i + 1
        y += row
    return canvas


def run_case(case: str) -> dict:
    os.environ.setdefault("RESSHIFT_OFFLINE", "1")  # bundled models and the bundled YuNet face detector
    from resshift.runtime.malloc import tune_malloc

    tune_malloc()  # as app.py does (RESSHIFT_MALLOC=default: glibc's defaults)
    from resshift.manager import ModelManager
    from resshift.catalog import all_models
    from studio.handlers import Studio
    from studio.limits import Limits

    limits = Limits.defaults("cpu")
    manager = ModelManager(all_models(), device="cpu", allow_download=False)
    work = Path(tempfile.mkdtemp(prefix="resshift-mem-"))
    studio = Studio(manager, limits, files_root=work / "files")
    if case == "sr":
        side = int(limits.max_pixels["sr"] ** 0.5)
        photo = _mosaic(side * 3).resize((side, side), Image.BICUBIC)
        photo.save(work / "in.png")
        manager.get("lite-sr")
        call = lambda: studio.super_resolve(str(work / "in.png"), "lite-sr", 4, 2.0, 1)  # noqa: E731
    elif case == "inpaint":
        side = int(limits.max_pixels["inpaint"] ** 0.5)
        image = np.asarray(_mosaic(side))
        layer = np.zeros((side, side, 4), np.uint8)
        layer[side // 4: 3 * side // 4, side // 4: 3 * side // 4] = (255, 45, 85, 178)
        editor = {"background": image, "layers": [layer], "composite": None}
        manager.get("lite-inpaint")
        call = lambda: studio.inpaint(editor, None, "lite-inpaint", 4, 2.0, 1)  # noqa: E731
    elif case == "face":
        Image.open(ROOT / "examples" / "face" / "celebahq_00234_lq.jpg").save(work / "in.png")
        manager.get("lite-face")
        call = lambda: studio.restore_face(str(work / "in.png"), "aligned", "lite-face", 4, 2.0, 1)  # noqa: E731
    elif case == "photo":
        side = int(limits.max_pixels["face"] ** 0.5)
        _mosaic(side).save(work / "in.png")
        manager.get("lite-face")
        call = lambda: studio.restore_face(str(work / "in.png"), "photo", "lite-face", 4, 2.0, 1,  # noqa: E731
                                           "bicubic", "none", 2, "resize", "all", 32)
    else:
        raise SystemExit(f"unknown case {case!r}; known: {', '.join(CASES)}")
    baseline = rss_mb()
    started = time.perf_counter()
    outputs = call()
    facts = outputs[3]  # every handler returns (slider, caption, PNG path, facts, ...)
    seconds = time.perf_counter() - started
    peak = _peak_mb()
    return {"case": case, "what": CASES[case], "baseline_mb": round(baseline), "peak_mb": round(peak),
            "peak_over_baseline_mb": round(peak - baseline), "seconds": round(seconds, 1),
            "output": facts.get("size"), "faces": facts.get("faces")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.memory", description=__doc__.split("\n\n")[0])
    p.add_argument("--case", choices=list(CASES), help="run one case in this process")
    args = p.parse_args(argv)
    if args.case:
        print(json.dumps(run_case(args.case)))
        return 0
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; CPU default limits")
    print("| case | baseline RSS | peak RSS | peak - baseline | seconds |")
    print("| --- | --- | --- | --- | --- |")
    for case in CASES:
        res = subprocess.run([sys.executable, "-m", "benchmarks.memory", "--case", case], cwd=ROOT,
                             capture_output=True, text=True)
        if res.returncode != 0:
            print(f"| {CASES[case]} | failed: {res.stderr.strip().splitlines()[-1]} | | | |")
            continue
        r = json.loads(res.stdout.strip().splitlines()[-1])
        faces = f", {r['faces']} faces" if r["faces"] is not None else ""
        print(f"| {r['what']}{faces} | {r['baseline_mb']} MB | {r['peak_mb']} MB | "
              f"{r['peak_over_baseline_mb']} MB | {r['seconds']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
