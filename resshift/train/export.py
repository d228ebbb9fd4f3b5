"""The EMA weights of a training checkpoint in fp16 (``python -m resshift.train.export CHECKPOINT
OUT.safetensors``; its command line is :func:`resshift.train.cli.export_main`)."""
from .checkpoint import export_fp16

__all__ = ["export_fp16"]

if __name__ == "__main__":
    import sys

    from .cli import export_main

    sys.exit(export_main())
