"""ResShift: efficient diffusion for image restoration by residual shifting (Yue, Wang, Loy 2023)."""
__version__ = "0.1.0"
