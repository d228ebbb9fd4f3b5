"""Merge the per-task training results of ``scripts/gpu_train.sh`` into one JSON file.

    python scripts/gpu_summary.py RUN_DIR OUT_JSON [--budget S] [--final]

``scripts/gpu_train.sh`` calls it every 15 s while it trains and once at the end; it runs anywhere
(no torch, no GPU), from the repository root or elsewhere.

Reads, for each task in sr / inpaint / face: ``RUN_DIR/<task>/summary.json`` (the trainer's
summary), ``RUN_DIR/<task>/metrics.jsonl`` (loss and validation records) and
``RUN_DIR/eval_<task>.json`` (PSNR of the exported fp16 file, when evaluated). Missing pieces are
reported as null, so it can run at any time during training (partial results). Written atomically.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

TASKS = ("sr", "inpaint", "face")


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _read_jsonl(path: Path) -> list:
    records = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return records
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            pass  # a line being written right now
    return records


def collect(run_dir: Path, budget: float | None, final: bool) -> dict:
    tasks = {}
    for task in TASKS:
        metrics = _read_jsonl(run_dir / task / "metrics.jsonl")
        train = [r for r in metrics if r.get("kind") == "train"]
        tasks[task] = {
            "summary": _read_json(run_dir / task / "summary.json"),
            "eval_fp16": _read_json(run_dir / f"eval_{task}.json"),
            "val_history": [r for r in metrics if r.get("kind") == "val"],
            "loss_history": [{k: r.get(k) for k in ("step", "elapsed_s", "loss", "lr", "images_per_s")}
                             for r in train],
        }
    gpu = None
    for info in tasks.values():
        if info["summary"]:
            gpu = info["summary"].get("device")
            torch_version = info["summary"].get("torch")
            break
    else:
        torch_version = None
    return {"final": final, "written": time.strftime("%Y-%m-%d %H:%M:%S"), "budget_s": budget, "gpu": gpu,
            "torch": torch_version, "python": platform.python_version(), "tasks": tasks}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run_dir", type=Path)
    p.add_argument("out", type=Path)
    p.add_argument("--budget", type=float, default=None)
    p.add_argument("--final", action="store_true")
    args = p.parse_args()
    data = collect(args.run_dir, args.budget, args.final)
    tmp = args.out.with_name(f".{args.out.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
