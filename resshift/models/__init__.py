"""Networks of ResShift (no diffusion math here)."""
from .pixel import PixelUnshuffleStage
from .unet import SwinUNet
from .vq import VQAutoencoder

__all__ = ["SwinUNet", "VQAutoencoder", "PixelUnshuffleStage"]
