"""Training data: image-folder crops and the synthetic degradations of each task.

- ``folder``: :class:`ImageFolder` (random crops with per-sample seeded randomness)
- ``kernels`` / ``noise`` / ``realesrgan``: Real-ESRGAN's second-order x4 degradation
  (kernels per sample on the CPU, the rest batched in torch on the training device)
- ``masks``: LaMa-style inpainting masks (1 = missing)
- ``faces``: GFPGAN-style blind face degradation

Images are float32 in [0, 1] here; the training code maps them to [-1, 1].
"""
from .faces import FaceDegradation, FaceDegradationConfig, degrade_face
from .folder import IMAGE_EXTENSIONS, CropConfig, ImageFolder, list_images, load_rgb, random_crop, to_tensor
from .kernels import BlurKernelConfig, RealESRGANKernels, blur_kernel, final_sinc_kernel
from .masks import InpaintMasks, MaskConfig, random_mask
from .realesrgan import RealESRGANConfig, RealESRGANDegradation, bicubic_downsample

__all__ = [
    "IMAGE_EXTENSIONS", "CropConfig", "ImageFolder", "list_images", "load_rgb", "random_crop", "to_tensor",
    "BlurKernelConfig", "RealESRGANKernels", "blur_kernel", "final_sinc_kernel",
    "RealESRGANConfig", "RealESRGANDegradation", "bicubic_downsample",
    "MaskConfig", "InpaintMasks", "random_mask",
    "FaceDegradationConfig", "FaceDegradation", "degrade_face",
]
