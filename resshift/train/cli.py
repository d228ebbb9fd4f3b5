"""The training commands' command lines (the only argparse of the training package):

- ``python -m resshift.train CONFIG.yaml [--set key=value ...]``: train (or resume) a lite model;
- ``python -m resshift.train.export CHECKPOINT OUT.safetensors``: the EMA weights in fp16;
- ``python -m resshift.train.average A.safetensors B.safetensors [...] OUT.safetensors``: their mean;
- ``python -m resshift.train.evaluate CONFIG.yaml WEIGHTS.safetensors``: validation PSNR of
  exported weights (loaded with strict keys into the config's model), printed as JSON.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path


def train_main(argv: list[str] | None = None) -> int:
    from .config import load_config
    from .loop import train

    p = argparse.ArgumentParser(prog="python -m resshift.train", description="Train (or resume) a lite model.")
    p.add_argument("config", type=Path, help="YAML training config (TrainConfig fields)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field (dotted keys for degradation./unet.), repeatable")
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_config(args.config, args.overrides)
    summary = train(config)
    print(json.dumps(summary))
    return 0


def export_main(argv: list[str] | None = None) -> int:
    from .checkpoint import export_fp16

    p = argparse.ArgumentParser(prog="python -m resshift.train.export",
                                description="The EMA weights of a training checkpoint, in fp16 safetensors.")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("out", type=Path)
    args = p.parse_args(argv)
    out = export_fp16(args.checkpoint, args.out)
    print(f"{out} ({out.stat().st_size / 2**20:.2f} MiB)")
    return 0


def average_main(argv: list[str] | None = None) -> int:
    from .checkpoint import average_exports

    p = argparse.ArgumentParser(prog="python -m resshift.train.average",
                                description="The parameter-wise mean of exported weights of one model "
                                            "(runs fine-tuned from the same file), in fp16 safetensors.")
    p.add_argument("inputs", type=Path, nargs="+", metavar="IN", help="two or more exported files")
    p.add_argument("out", type=Path)
    args = p.parse_args(argv)
    try:
        out = average_exports(args.inputs, args.out)
    except (ValueError, FileNotFoundError) as err:
        p.error(str(err))
    print(f"{out} ({out.stat().st_size / 2**20:.2f} MiB, the mean of {len(args.inputs)})")
    return 0


def evaluate_main(argv: list[str] | None = None) -> int:
    import torch

    from .loop import evaluate

    p = argparse.ArgumentParser(prog="python -m resshift.train.evaluate",
                                description="Validation PSNR of exported weights, printed as JSON.")
    p.add_argument("config", type=Path)
    p.add_argument("weights", type=Path)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--device", default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    with torch.inference_mode():
        print(json.dumps(evaluate(args.config, args.weights, args.overrides, args.device)))
    return 0
