"""Networks of ResShift (no diffusion math here), and the registry that builds them by name."""
from .architectures import ARCHITECTURES, Architecture, build, register
from .noisy import NoiseInputSwinUNet
from .pixel import PixelUnshuffleStage
from .unet import SwinUNet
from .vq import VQAutoencoder

__all__ = ["ARCHITECTURES", "Architecture", "NoiseInputSwinUNet", "PixelUnshuffleStage", "SwinUNet",
           "VQAutoencoder", "build", "register"]
