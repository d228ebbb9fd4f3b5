"""GFPGAN v1.4 as a ``restore_faces`` callable, for side-by-side comparison with ResShift.

We build the network GFPGAN's ``GFPGANer(arch='clean', channel_multiplier=2, upscale=1)`` builds
(``GFPGANv1Clean``, 512x512) and run it on our aligned crops ourselves, instead of going through
``GFPGANer.enhance(img, has_aligned=True)``: ``GFPGANer.__init__`` also builds facexlib's
detector and parsing models, which downloads their weights (into ``./gfpgan/weights`` of the
working directory) even when only aligned faces are restored, and ``enhance`` prints and swallows
inference errors, returning the input face. The StyleGAN noise is the checkpoint's stored noise
(``randomize_noise=False``), so results are deterministic and no global random generator is used;
``GFPGANer`` draws fresh noise each call, so fine texture differs slightly from it.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..media.image import batch_from_model_output, batch_to_model_input
from ..settings import resolve_device
from ..weights import WeightFile, WeightsLoadError, load_into, load_state_dict, resolve_weight

logger = logging.getLogger(__name__)

# Pins: AbdBarho/stable-diffusion-webui-docker services/download/checksums.sha256 (SHA-256); the
# size is the Git LFS size of the same digest (e.g. Hugging Face axhello/upscale, commit 6b71cce).
GFPGAN_WEIGHTS = WeightFile(
    filename="GFPGANv1.4.pth",
    url="https://github.com/TencentARC/GFPGAN/releases/download/v1.3.0/GFPGANv1.4.pth",
    sha256="e2cd4703ab14f4d01fd1383a8a8b266f9a5833dacee8e6a79d3bf21a1b6be5ad",
    size=348_632_874,
)


def _build_network(state: dict, path: Path) -> torch.nn.Module:
    from ..runtime.compat import install_torchvision_compat  # basicsr 1.4.2 needs it with torchvision >= 0.17

    install_torchvision_compat()
    from gfpgan.archs.gfpganv1_clean_arch import GFPGANv1Clean

    net = GFPGANv1Clean(out_size=512, num_style_feat=512, channel_multiplier=2, decoder_load_path=None,
                        fix_decoder=False, num_mlp=8, input_is_latent=True, different_w=True,
                        narrow=1, sft_half=True)
    try:
        load_into(net, state, strict_extra=True, name="GFPGAN v1.4 (GFPGANv1Clean)")
    except WeightsLoadError as err:
        raise WeightsLoadError(f"{path} is not a GFPGAN checkpoint: {err}") from None
    return net.eval()


def gfpgan_restorer(weights_path: str | Path | None = None, *, device: str | torch.device | None = None,
                    allow_download: bool = True,
                    weights_dir: str | Path | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """Load GFPGAN v1.4 and return ``restore(crops)``: (N, 512, 512, 3) uint8 RGB aligned faces ->
    (N, 512, 512, 3) uint8 RGB.

    weights_path: a local ``GFPGANv1.4.pth``; None resolves :data:`GFPGAN_WEIGHTS` (``weights_dir``,
    cache, then download if ``allow_download``). Loaded without unpickling objects. Raises
    :class:`~resshift.weights.WeightsUnavailable` when the file cannot be had,
    :class:`~resshift.weights.UnsafeWeightsError` / :class:`~resshift.weights.WeightsLoadError`
    (naming the file) when it is not a safe, readable GFPGAN v1.4 checkpoint.
    device: default RESSHIFT_DEVICE, else cuda when available, else cpu (resshift.settings).
    """
    path = resolve_weight(GFPGAN_WEIGHTS, path=weights_path, weights_dir=weights_dir,
                          allow_download=allow_download)
    state = load_state_dict(path)  # params_ema (else params) unwrapped, module. stripped
    device = resolve_device(device)
    net = _build_network(state, path).to(device)
    logger.info("GFPGAN v1.4 loaded from %s on %s", path, device)

    def restore(crops: np.ndarray) -> np.ndarray:
        if crops.ndim != 4 or crops.shape[1:] != (512, 512, 3) or crops.dtype != np.uint8:
            raise ValueError(f"GFPGAN takes (N, 512, 512, 3) uint8 crops, got {crops.shape} {crops.dtype}")
        param = next(net.parameters())
        x = batch_to_model_input(crops, param.device)
        with torch.no_grad():
            y, _ = net(x, return_rgb=False, randomize_noise=False)
        return batch_from_model_output(y)

    return restore
