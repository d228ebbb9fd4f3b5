"""``python -m resshift.train CONFIG.yaml [--set key=value ...]``: train (or resume) a lite model."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .config import load_config
from .loop import train


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m resshift.train", description=__doc__)
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


if __name__ == "__main__":
    sys.exit(main())
