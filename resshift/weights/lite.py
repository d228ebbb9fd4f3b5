"""ResShift-lite: three small models bundled with the project, trained by ``resshift.train``.

They keep ResShift's diffusion (trained with 4 steps, kappa 2, the exponential eta schedule) and
Swin-UNet, but replace the VQ autoencoder by pixel-unshuffle (weight-free) and shrink the network so
it runs on a laptop CPU. Each is sampled in 1 step by default (``sampling_steps=1``; the studio's
slider still offers 1-4 and marks the trained 4): on the validation split 1 step beats 2, 3 and 4 in
PSNR and SSIM for every one of them, and on real photos it is the clean result where 4 steps
sharpen artifacts and leave skin grainy (tables in their model cards). Kappa stays the trained 2:
for lite-sr and lite-sr-bicubic at 1 step, kappa 1.5-3 changes PSNR by at most 0.04 dB.

Latents are pixels in [-1, 1], so inputs are normalised by the pixel-space rule
(``latent=False``: x_t / (3 kappa sqrt(eta_t) + 1)) in training and sampling alike.

- lite-sr: x4; the UNet runs at the *low* resolution: latent = pixel-unshuffle(4) of the bicubic
  x4 image (48 channels at LR size), conditioned on the LR image itself (lq_size == image_size).
- lite-sr-bicubic: the same network fine-tuned on bicubic downscaling only (clean, downscaled
  inputs), as the official release pairs bicsr with realsr.
- lite-inpaint: latent = pixel-unshuffle(4) of the image; y0 = lq = the image with its holes
  prefilled by OpenCV's Telea inpainting (``hole_fill='telea'``), given with the mask at 4x the
  latent size through the learned feature extractor: the chain refines a plausible guess.
- lite-face: 512 x 512 aligned faces; latent = pixel-unshuffle(8) (64 x 64 x 192); lq at 512.

All three predict x0 relative to the low-quality input (``lq_residual``: the network's output is
added to the pixel-unshuffled, resized input), so a short training run starts from the input
and only has to learn the correction; for inpainting, that starting point is the Telea fill.
"""
from __future__ import annotations

from typing import Any

from ..diffusion.schedule import DiffusionConfig
from .registry import ModelSpec, WeightFile

_LITE_DIFFUSION = dict(steps=4, kappa=2.0, min_noise_level=0.2, etas_end=0.99, power=0.3,
                       predict_type="xstart", normalize_input=True, latent=False, scale_factor=1.0)


def _unet(latent_channels: int, image_size: int, lq_size: int, model_channels: int,
          channel_mult: list[int], attention_resolutions: list[int], **extra: Any) -> dict[str, Any]:
    params = dict(
        image_size=image_size, in_channels=latent_channels, model_channels=model_channels,
        out_channels=latent_channels, attention_resolutions=attention_resolutions, dropout=0,
        channel_mult=channel_mult, num_res_blocks=[1] * len(channel_mult), conv_resample=True,
        dims=2, use_fp16=False, num_head_channels=32, use_scale_shift_norm=True,
        resblock_updown=False, swin_depth=2, swin_embed_dim=64, window_size=8, mlp_ratio=2,
        cond_lq=True, lq_size=lq_size,
    )
    params.update(extra)
    return params


# SHA-256 and size of the bundled files (assets/lite/), checked when they are loaded. A retrained
# file must update its entry here (and its model card).
BUNDLED_CHECKSUMS: dict[str, tuple[str, int]] = {
    "sr": ("ce0ee8d3095308e9545a90b13dcfe78a1ffc8df8a5c61bed5dd7b58dc5286654", 6_062_064),
    "sr-bicubic": ("a08880cddc5b6d782416f7ba866d5a71ae598475661b483bf6165e50a0358308", 6_062_064),
    "inpaint": ("b4954510c16c7ab69c841b3aa003a4e5c1ea8b51177eedd4d71199d79eaf01e6", 6_163_992),
    "face": ("da585e7da11a07adcb858c73667b218f431bd7d636a054bfdd66dd4892388c2c", 5_718_728),
}


def _lite(key: str, task: str, title: str, unet: dict[str, Any], sf: int, factor: int,
          notes: str, sampling_steps: int = 1, **fields: Any) -> ModelSpec:
    """The spec ``lite-<key>`` (file ``resshift_lite_<key>.safetensors``, config ``lite_<key>.yaml``)."""
    stem = key.replace("-", "_")
    name = f"resshift_lite_{stem}.safetensors"
    sha256, size = BUNDLED_CHECKSUMS[key]
    return ModelSpec(
        f"lite-{key}", task, title, unet, DiffusionConfig(sf=sf, **_LITE_DIFFUSION),  # type: ignore[arg-type]
        WeightFile(filename=name, bundled=f"lite/{name}", sha256=sha256, size=size), "pixel",
        {"factor": factor}, official=False,
        notes=f"{notes}; trained by resshift.train (configs/lite_{stem}.yaml).",
        licence="research use: trained by this project on research data sets (model card in assets/lite/)",
        source=f"bundled: assets/lite/{name}", sampling_steps=sampling_steps, **fields,
    )


# image_size is the training latent size (it sizes the Swin masks); any multiple of
# size_multiple (8 * 2**(levels-1)) works at run time.
LITE_SR_UNET = _unet(48, image_size=64, lq_size=64, model_channels=32, channel_mult=[1, 2, 4],
                     attention_resolutions=[16], lq_residual=4)
LITE_INPAINT_UNET = _unet(48, image_size=64, lq_size=256, model_channels=32, channel_mult=[1, 2, 4],
                          attention_resolutions=[16], cond_mask=True, lq_residual=4)
LITE_FACE_UNET = _unet(192, image_size=64, lq_size=512, model_channels=64, channel_mult=[1, 1, 1],
                       attention_resolutions=[32, 16], lq_residual=8)

LITE_MODELS: tuple[ModelSpec, ...] = (
    _lite("sr", "sr", "ResShift-lite x4 SR, small preview model (fast on CPU)", LITE_SR_UNET, sf=4, factor=4,
          notes="Small Swin-UNet at LR resolution on the pixel-unshuffled bicubic x4 image, "
                "Real-ESRGAN degradations"),
    _lite("sr-bicubic", "sr", "ResShift-lite bicubic x4 SR, clean downscaled images", LITE_SR_UNET,
          sf=4, factor=4, notes="lite-sr fine-tuned on bicubic downscaling only, as the official bicsr "
                                "pairs with realsr"),
    _lite("inpaint", "inpaint", "ResShift-lite inpainting, small preview model (fast on CPU)", LITE_INPAINT_UNET,
          sf=1, factor=4, hole_fill="telea", self_ensemble=4,
          notes="Small Swin-UNet on the pixel-unshuffled image, conditioned on the image with its holes "
                "prefilled by OpenCV's Telea inpainting and on the mask, LaMa-style masks"),
    _lite("face", "face", "ResShift-lite face restoration, 512x512 aligned, small preview model", LITE_FACE_UNET,
          sf=1, factor=8, notes="Small Swin-UNet on the pixel-unshuffled (x8) face, GFPGAN-style degradations"),
)


def lite_model(name: str) -> ModelSpec:
    """The lite spec called ``name`` (KeyError listing the names otherwise)."""
    for spec in LITE_MODELS:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown lite model {name!r}; known: {[s.name for s in LITE_MODELS]}")
