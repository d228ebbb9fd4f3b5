"""The mean of exported weights (``python -m resshift.train.average A.safetensors B.safetensors
[...] OUT.safetensors``; its command line is :func:`resshift.train.cli.average_main`)."""
from .checkpoint import average_exports

__all__ = ["average_exports"]

if __name__ == "__main__":
    import sys

    from .cli import average_main

    sys.exit(average_main())
