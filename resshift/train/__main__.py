"""``python -m resshift.train CONFIG.yaml [--set key=value ...]``: train (or resume) a lite model."""
import sys

from .cli import train_main

sys.exit(train_main())
