"""Validation PSNR of exported weights (``python -m resshift.train.evaluate CONFIG.yaml
WEIGHTS.safetensors``, printed as JSON; the function is :func:`resshift.train.loop.evaluate`, its
command line :func:`resshift.train.cli.evaluate_main`)."""
from .loop import evaluate

__all__ = ["evaluate"]

if __name__ == "__main__":
    import sys

    from .cli import evaluate_main

    sys.exit(evaluate_main())
