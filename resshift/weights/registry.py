"""What models exist: the official ResShift checkpoints and the bundled ResShift-lite models.

A :class:`ModelSpec` says how to build a model (the official constructor parameters), which
weight files it needs and the diffusion settings it was trained with. Nothing here touches disk.

Pins: a release asset carries its byte size and SHA-256 only where a public source states them
(cited beside each pin); the others are checked by their layout when they load. The ResShift
release page itself publishes no digests. ``RESSHIFT_VERIFY_WEIGHTS=0`` turns pins off
(:mod:`resshift.weights.download`).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, Mapping

from ..diffusion.schedule import DEFAULT_SPACING, SPACINGS, DiffusionConfig
from ..models.architectures import architecture

Task = Literal["sr", "inpaint", "face"]
TASKS: tuple[str, ...] = ("sr", "inpaint", "face")
HoleFill = Literal["blank", "telea", "ns"]
HOLE_FILLS: tuple[str, ...] = ("blank", "telea", "ns")
SELF_ENSEMBLES: tuple[int, ...] = (1, 2, 4)  # flipped views a run may average (ModelSpec.self_ensemble)
TASK_TITLES = {"sr": "super-resolution", "inpaint": "inpainting", "face": "face restoration"}


def a_task_model(task: str) -> str:
    """'a super-resolution model', 'an inpainting model', 'a face restoration model'."""
    title = TASK_TITLES[task]
    return f"{'an' if title[0] in 'aeiou' else 'a'} {title} model"

OFFICIAL_RELEASE = "https://github.com/zsyOAOA/ResShift/releases/download/v2.0/"


@dataclass(frozen=True)
class WeightFile:
    """One weight file. ``url`` None means it ships with the package (``bundled`` is then the path
    relative to the repository's ``assets/`` folder). ``sha256``/``size`` are checked when known.
    ``aliases``: other names the same file goes by upstream (RSD publishes ``ema_model_2800.pth``),
    also found in a weights folder or the cache. A Google Drive ``url`` (drive.google.com) is
    fetched with gdown (:mod:`.gdrive`)."""

    filename: str
    url: str | None = None
    sha256: str | None = None
    size: int | None = None
    bundled: str | None = None
    aliases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "aliases", tuple(self.aliases))
        for name in (self.filename, *self.aliases):
            if "/" in name or "\\" in name or name in ("", ".", ".."):
                raise ValueError(f"weight file name must be a plain file name: {name!r}")
        if self.url is None and self.bundled is None:
            raise ValueError(f"{self.filename}: a weight file needs a url or a bundled path")


@dataclass(frozen=True)
class ModelSpec:
    """A restoration model: Swin-UNet parameters, its first stage, weights and diffusion settings.

    network / first_stage: registered architectures (:mod:`resshift.models.architectures`), built
    from ``unet_params`` / ``first_stage_params``: the denoiser ('swin-unet', or 'swin-unet-noise'
    for RSD's widened input) and the first stage ('vq': ``VQAutoencoder``, or 'pixel':
    ``PixelUnshuffleStage``, weight-free). sampling_steps / spacing: how it
    is sampled by default (None: its trained steps ``diffusion.steps``); a one-step distillation
    such as SinSR was trained on a 15-step schedule and is sampled in one step, 'trailing'.
    licence and source: what a user may do with the weights, and where they come from.
    hole_fill (inpainting): how the missing pixels of y0, the image the chain starts from and the
    network is conditioned on, are set: 'blank' (-1, as the official models were trained), or a
    classical fill by OpenCV's ``cv2.inpaint``, 'telea' or 'ns' (Navier-Stokes), so that the chain
    refines a plausible guess instead of inventing from nothing; the mask is given either way.
    self_ensemble: how many flipped views of the input (1, 2 or 4: as it is, mirrored left-right,
    upside down, both) a run restores and averages by default (EDSR's geometric self-ensemble):
    1 for the official models; the small bundled inpainting model takes 4 (its fill is steadier).
    """

    name: str
    task: Task
    title: str
    unet_params: Mapping[str, Any]
    diffusion: DiffusionConfig
    unet_weights: WeightFile
    first_stage: str
    first_stage_params: Mapping[str, Any] = field(default_factory=dict)
    first_stage_weights: WeightFile | None = None
    official: bool = True
    notes: str = ""
    sampling_steps: int | None = None
    spacing: str = DEFAULT_SPACING
    licence: str = ""
    source: str = ""
    network: str = "swin-unet"
    hole_fill: HoleFill = "blank"
    self_ensemble: int = 1

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        architecture(self.network, "denoiser")
        first = architecture(self.first_stage, "first_stage")
        if first.weights and self.first_stage_weights is None:
            raise ValueError(f"{self.name}: a {first.title} first stage needs weights")
        if self.hole_fill not in HOLE_FILLS:
            raise ValueError(f"{self.name}: hole_fill must be one of {HOLE_FILLS}, got {self.hole_fill!r}")
        if self.hole_fill != "blank" and self.task != "inpaint":
            raise ValueError(f"{self.name}: hole_fill is for inpainting models, not {self.task!r}")
        if self.sampling_steps is not None and not 1 <= self.sampling_steps <= self.diffusion.steps:
            raise ValueError(f"{self.name}: sampling_steps must be in 1..{self.diffusion.steps}")
        if self.spacing not in SPACINGS:
            raise ValueError(f"{self.name}: spacing must be one of {SPACINGS}")
        if self.self_ensemble not in SELF_ENSEMBLES:
            raise ValueError(f"{self.name}: self_ensemble must be one of {SELF_ENSEMBLES}, got {self.self_ensemble!r}")
        object.__setattr__(self, "unet_params", MappingProxyType(dict(self.unet_params)))
        object.__setattr__(self, "first_stage_params", MappingProxyType(dict(self.first_stage_params)))

    def __repr__(self) -> str:  # the fields a person looks for (the networks' parameters: to_dict())
        steps = self.sampling_steps or self.diffusion.steps
        return (f"ModelSpec({self.name!r}, task={self.task!r}, title={self.title!r}, steps={steps}, "
                f"official={self.official})")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (for custom models on the command line)."""
        def wf(f: WeightFile | None) -> dict | None:
            return None if f is None else {k: getattr(f, k) for k in f.__dataclass_fields__}

        return {"name": self.name, "task": self.task, "title": self.title,
                "unet_params": dict(self.unet_params), "diffusion": self.diffusion.to_dict(),
                "unet_weights": wf(self.unet_weights), "first_stage": self.first_stage,
                "first_stage_params": dict(self.first_stage_params),
                "first_stage_weights": wf(self.first_stage_weights), "official": self.official,
                "notes": self.notes, "sampling_steps": self.sampling_steps, "spacing": self.spacing,
                "licence": self.licence, "source": self.source, "network": self.network,
                "hole_fill": self.hole_fill, "self_ensemble": self.self_ensemble}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ModelSpec":
        """Inverse of :meth:`to_dict`; ``diffusion`` may also be an official ``diffusion.params`` block."""
        fsw = d.get("first_stage_weights")
        return cls(
            name=d["name"], task=d["task"], title=d.get("title", d["name"]),
            unet_params=d["unet_params"], diffusion=DiffusionConfig.from_official(d["diffusion"]),
            unet_weights=WeightFile(**d["unet_weights"]), first_stage=d["first_stage"],
            first_stage_params=d.get("first_stage_params", {}),
            first_stage_weights=None if fsw is None else WeightFile(**fsw),
            official=bool(d.get("official", False)), notes=d.get("notes", ""),
            sampling_steps=d.get("sampling_steps"), spacing=d.get("spacing", DEFAULT_SPACING),
            licence=d.get("licence", ""), source=d.get("source", ""), network=d.get("network", "swin-unet"),
            hole_fill=d.get("hole_fill", "blank"), self_ensemble=int(d.get("self_ensemble", 1)),
        )

    @property
    def networks_key(self) -> str:
        """What the networks are (architectures and their parameters), as text: models that share
        it share their parameter count and their cost per call."""
        return json.dumps([self.network, dict(self.unet_params), self.first_stage, dict(self.first_stage_params)],
                          sort_keys=True, default=str)

    @property
    def default_steps(self) -> int:
        """The steps a run takes when it does not ask for a number."""
        return self.diffusion.steps if self.sampling_steps is None else self.sampling_steps

    @property
    def weight_files(self) -> tuple[WeightFile, ...]:
        return (self.unet_weights,) + ((self.first_stage_weights,) if self.first_stage_weights else ())


def _official(filename: str, sha256: str | None = None, size: int | None = None) -> WeightFile:
    return WeightFile(filename=filename, url=OFFICIAL_RELEASE + filename, sha256=sha256, size=size)


RESSHIFT_LICENCE = "S-Lab License 1.0 (non-commercial)"
RESSHIFT_SOURCE = "github.com/zsyOAOA/ResShift, release v2.0"
SINSR_RELEASE = "https://github.com/wyf0912/SinSR/releases/download/v1.0/"
RSD_DRIVE = "https://drive.google.com/uc?id=1EQbO1Bw2HtGmGad4uk3g2wTFjdH22B2X"  # RSD's download script's file


# The released Swin-UNet (118.6 M parameters), as in the official YAML configs.
_SWIN_UNET = dict(
    image_size=64, in_channels=3, model_channels=160, out_channels=3,
    attention_resolutions=[64, 32, 16, 8], dropout=0, channel_mult=[1, 2, 2, 4],
    num_res_blocks=[2, 2, 2, 2], conv_resample=True, dims=2, use_fp16=False, num_head_channels=32,
    use_scale_shift_norm=True, resblock_updown=False, swin_depth=2, swin_embed_dim=192,
    window_size=8, mlp_ratio=4, cond_lq=True, lq_size=64,
)
_VQ_F4 = dict(
    embed_dim=3, n_embed=8192,
    ddconfig=dict(double_z=False, z_channels=3, resolution=256, in_channels=3, out_ch=3, ch=128,
                  ch_mult=[1, 2, 4], num_res_blocks=2, attn_resolutions=[], dropout=0.0,
                  padding_mode="zeros"),
)
_VQ_F8_FACE = dict(
    embed_dim=8, n_embed=4096,
    ddconfig=dict(double_z=False, z_channels=8, resolution=512, in_channels=3, out_ch=3, ch=64,
                  ch_mult=[1, 2, 4, 8], num_res_blocks=[1, 2, 3, 4], attn_resolutions=[],
                  dropout=0.0, padding_mode="zeros"),
)
_S4 = DiffusionConfig(steps=4, kappa=2.0, min_noise_level=0.2, etas_end=0.99, power=0.3, sf=4)
_S15 = DiffusionConfig(steps=15, kappa=2.0, min_noise_level=0.04, etas_end=0.99, power=0.3, sf=4)
_S4_SF1 = DiffusionConfig(steps=4, kappa=2.0, min_noise_level=0.2, etas_end=0.99, power=0.3, sf=1)

# Pin sources. autoencoder_vq_f4.pth: KAIST-VICLab/GeoSET baselines/resshift/fetch.sh downloads it
# from OFFICIAL_RELEASE and checks this SHA-256 (`sha256sum -c`), and its README states both
# numbers; ywyksll/img_sr's Git LFS pointer weights/autoencoder_vq_f4.pth and the Hugging Face Space
# yuhj95/resshift (weights/autoencoder_vq_f4.pth) agree. resshift_realsrx4_s4_v3.pth: the LFS pointer
# ywyksll/img_sr weights/resshift_realsrx4_s4_v3.pth (oid and size) and the Space yuhj95/resshift
# (weights/resshift_realsrx4_s4_v3.pth, same SHA-256). No public digest was found for the other
# release files.
VQ_F4 = _official("autoencoder_vq_f4.pth",
                  sha256="e967eaa2c380152811c53e312990d6967a8a957c4f7590f19490ec72110b2889",
                  size=221_364_711)
REALSR_V3 = _official("resshift_realsrx4_s4_v3.pth",
                      sha256="878da888bbbe10b8b0d4ff179c2de3059fd8a4cf2c705942a77a7f3b23ea1efd",
                      size=477_917_058)


def _resshift(name: str, task: str, title: str, unet: dict, diffusion: DiffusionConfig, weights: WeightFile,
              first_stage_params: dict, first_stage_weights: WeightFile) -> ModelSpec:
    return ModelSpec(name, task, title, unet, diffusion, weights, "vq", first_stage_params,  # type: ignore[arg-type]
                     first_stage_weights, licence=RESSHIFT_LICENCE, source=RESSHIFT_SOURCE)


OFFICIAL_MODELS: tuple[ModelSpec, ...] = (
    _resshift("realsr-v3", "sr", "ResShift RealSR x4 v3 (4 steps)", _SWIN_UNET, _S4, REALSR_V3, _VQ_F4, VQ_F4),
    _resshift("realsr-v2", "sr", "ResShift RealSR x4 v2 (15 steps)", _SWIN_UNET, _S15,
              _official("resshift_realsrx4_s15_v2.pth"), _VQ_F4, VQ_F4),
    _resshift("realsr-v1", "sr", "ResShift RealSR x4 v1 (15 steps)", _SWIN_UNET, _S15,
              _official("resshift_realsrx4_s15_v1.pth"), _VQ_F4, VQ_F4),
    _resshift("bicsr", "sr", "ResShift bicubic SR x4 (4 steps)", _SWIN_UNET, _S4,
              _official("resshift_bicsrx4_s4.pth"), _VQ_F4, VQ_F4),
    # SinSR (Wang et al., CVPR 2024): ResShift v1's networks distilled to one step; sampled from
    # the prior at the last trained timestep of the 15-step schedule ('trailing' keeps it), whose
    # single posterior step returns the x0 prediction (tests: sample_sinsr_one_step)
    ModelSpec("sinsr", "sr", "SinSR x4, one step (distilled ResShift v1)", _SWIN_UNET, _S15,
              WeightFile(filename="SinSR_v1.pth", url=SINSR_RELEASE + "SinSR_v1.pth"), "vq", _VQ_F4, VQ_F4,
              sampling_steps=1, spacing="trailing", licence=RESSHIFT_LICENCE,
              source="github.com/wyf0912/SinSR, release v1.0"),
    # RSD (Selikhanovych et al., arXiv 2503.13358): ResShift v1 distilled into one stochastic step;
    # SinSR's network with one noise plane more in its input ('swin-unet-noise'), sampled as SinSR.
    # Published on Google Drive only (as ema_model_2800.pth), with no size or digest: layout-checked.
    ModelSpec("rsd", "sr", "RSD x4, one step (distilled ResShift v1)", dict(_SWIN_UNET, noise_channels=1), _S15,
              WeightFile(filename="rsd_ema_model_2800.pth", url=RSD_DRIVE, aliases=("ema_model_2800.pth",)), "vq",
              _VQ_F4, VQ_F4, sampling_steps=1, spacing="trailing", licence="CC BY-NC-SA 4.0 (non-commercial)",
              source="github.com/Daniil-Selikhanovych/RSD, Google Drive release", network="swin-unet-noise"),
    _resshift("inpaint-imagenet", "inpaint", "ResShift inpainting, ImageNet (4 steps)",
              dict(_SWIN_UNET, cond_mask=True, lq_size=256), _S4_SF1,
              _official("resshift_inpainting_imagenet_s4.pth"), _VQ_F4, VQ_F4),
    _resshift("inpaint-face", "inpaint", "ResShift inpainting, faces (4 steps)",
              dict(_SWIN_UNET, cond_mask=True, lq_size=256), _S4_SF1,
              _official("resshift_inpainting_face_s4.pth"), _VQ_F4, _official("celeba256_vq_f4_dim3_face.pth")),
    _resshift("faceir", "face", "ResShift blind face restoration, 512x512 aligned (4 steps)",
              dict(_SWIN_UNET, in_channels=8, out_channels=8, lq_size=512), _S4_SF1,
              _official("resshift_faceir_s4.pth"), _VQ_F8_FACE, _official("ffhq512_vq_f8_dim8_face.pth")),
)
