"""``python -m resshift.train.export CHECKPOINT OUT.safetensors``: the EMA weights in fp16."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .checkpoint import export_fp16


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m resshift.train.export", description=__doc__)
    p.add_argument("checkpoint", type=Path)
    p.add_argument("out", type=Path)
    args = p.parse_args(argv)
    out = export_fp16(args.checkpoint, args.out)
    print(f"{out} ({out.stat().st_size / 2**20:.2f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
