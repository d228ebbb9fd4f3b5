"""The training loop: AdamW with warmup + cosine, gradient clipping, EMA, bf16 autocast on CUDA,
checkpoints with resume, validation PSNR, a time budget, and logging to ``logging`` and JSONL; and
:func:`evaluate`, the same validation of exported weights.

Files in ``out_dir``: ``checkpoint.pt`` (latest; resumed from when ``resume``), ``metrics.jsonl``
(one record per log/validation), ``summary.json`` (rewritten at every checkpoint) and, with
``export_path``, the fp16 EMA weights (rewritten at every checkpoint).
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import signal
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Iterator

import torch
from safetensors.torch import load_file
from torch.utils.data import DataLoader

from ..data import CropConfig, ImageFolder
from ..data.util import generator_for
from ..loader import build_networks
from ..models import PixelUnshuffleStage, SwinUNet
from ..settings import resolve_device
from ..weights.lite import lite_model
from ..weights.registry import ModelSpec
from .checkpoint import export_metadata, load_checkpoint, save_checkpoint, write_fp16_safetensors
from .config import TrainConfig, load_config
from .ema import EMA
from .init import initialize
from .objective import ResShiftObjective
from .tasks import make_task, validation_pairs
from .validate import validate

log = logging.getLogger(__name__)
CHECKPOINT = "checkpoint.pt"


def resolve_spec(config: TrainConfig) -> ModelSpec:
    """The lite spec of the run, with the config's Swin-UNet overrides applied."""
    spec = lite_model(config.model_name)
    if spec.task != config.task:
        raise ValueError(f"model {spec.name} is a {spec.task!r} model, the config trains {config.task!r}")
    if config.unet:
        spec = replace(spec, unet_params={**spec.unet_params, **config.unet})
    return spec


def load_init_weights(unet: SwinUNet, path: str | Path) -> None:
    """Fine-tuning: copy UNet weights (an exported ``.safetensors`` or a training checkpoint's EMA)
    into ``unet``, strictly (the architecture must match), in the network's own dtype."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"init_from: {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = load_checkpoint(path)["ema"]
    current = unet.state_dict()
    try:
        unet.load_state_dict({k: v.to(current[k].dtype) if k in current else v for k, v in state.items()},
                             strict=True)
    except RuntimeError as exc:
        raise ValueError(f"init_from: {path} does not fit this model's Swin-UNet: {exc}") from None
    log.info("initialised the Swin-UNet from %s", path)


def trainable_networks(spec: ModelSpec, device: torch.device, channels_last: bool,
                       seed: int | None = None) -> tuple[SwinUNet, PixelUnshuffleStage]:
    """The spec's networks (``loader.build_networks``) made trainable on ``device``: the Swin-UNet
    initialised from ``seed`` when given, and the weight-free pixel-unshuffle stage."""
    if spec.first_stage != "pixel":
        raise ValueError(f"{spec.name}: only pixel-unshuffle first stages are trained here")
    unet, first_stage = build_networks(spec)
    unet.train().requires_grad_(True)
    if seed is not None:
        initialize(unet, torch.Generator().manual_seed(seed))
    unet = unet.to(device)
    if channels_last:
        unet = unet.to(memory_format=torch.channels_last)
    return unet, first_stage.to(device)


def learning_rate(config: TrainConfig, step: int, elapsed_s: float) -> float:
    """Linear warmup over ``warmup_steps``, then cosine from lr to lr * lr_min_ratio; the cosine's
    progress is the larger of the step fraction and the time-budget fraction."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.iterations - config.warmup_steps)
    if config.time_budget_s:
        progress = max(progress, elapsed_s / config.time_budget_s)
    progress = min(1.0, progress)
    low = config.lr * config.lr_min_ratio
    return low + (config.lr - low) * 0.5 * (1 + math.cos(math.pi * progress))


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device.type, dtype=dtype)


def _worker_init(_: int) -> None:
    import cv2

    cv2.setNumThreads(1)  # one OpenCV thread per loader worker: the workers are the parallelism
    # a SIGTERM/SIGINT sent to the whole process group (`timeout`, Ctrl-C) is for the main
    # process, which then stops cleanly and shuts the workers down itself
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def _stop_on_signals(flag: threading.Event) -> Iterator[None]:
    """SIGTERM/SIGINT set ``flag`` (the loop then saves and exports) instead of killing the run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}

    def handler(signum: int, _frame: Any) -> None:
        log.warning("signal %d: stopping after this step", signum)
        flag.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@dataclass
class _Meter:
    loss_sum: torch.Tensor | None = None
    grad_sum: torch.Tensor | None = None
    count: int = 0
    samples: int = 0
    since: float = 0.0

    def add(self, loss: torch.Tensor, grad_norm: torch.Tensor, batch: int) -> None:
        loss, grad_norm = loss.detach().float(), grad_norm.detach().float()
        self.loss_sum = loss if self.loss_sum is None else self.loss_sum + loss
        self.grad_sum = grad_norm if self.grad_sum is None else self.grad_sum + grad_norm
        self.count += 1
        self.samples += batch

    def flush(self) -> dict[str, float]:
        now = time.monotonic()
        out = {"loss": float(self.loss_sum) / self.count, "grad_norm": float(self.grad_sum) / self.count,
               "images_per_s": self.samples / max(1e-9, now - self.since)}
        self.loss_sum = self.grad_sum = None
        self.count = self.samples = 0
        self.since = now
        return out


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


class Trainer:
    """One training run; :meth:`run` trains until iterations, the time budget or a signal."""

    def __init__(self, config: TrainConfig):
        self.config = config
        self.device = resolve_device(config.device)
        cuda = self.device.type == "cuda"
        self.precision = config.precision if config.precision != "auto" else ("bf16" if cuda else "fp32")
        self.channels_last = cuda if config.channels_last is None else bool(config.channels_last)
        if cuda:
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            # no cudnn.benchmark: the degradations convolve images of random sizes, and each new
            # size would be benchmarked again
        self.out_dir = Path(config.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.spec = resolve_spec(config)
        self.unet, self.first_stage = trainable_networks(self.spec, self.device, self.channels_last, config.seed)
        shadow, _ = trainable_networks(self.spec, self.device, self.channels_last)
        if config.init_from:
            load_init_weights(self.unet, config.init_from)
            if config.init_zero_output:
                with torch.no_grad():
                    for p in self.unet.out[-1].parameters():
                        p.zero_()
                log.info("output convolution set to zero: the first prediction is the residual base")
        self.ema = EMA(self.unet, config.ema_rate, shadow)
        self.objective = ResShiftObjective(self.spec.diffusion, self.first_stage,
                                           timestep_probs=config.timestep_probs, focus_weight=config.focus_weight)
        self.task = make_task(config.task, config.degradation, config.seed + 1, self.device, uint8=True,
                              hole_fill=self.spec.hole_fill)
        if self.task.sf != self.spec.diffusion.sf:
            raise ValueError(f"the degradation's scale {self.task.sf} differs from {self.spec.name}'s sf "
                             f"{self.spec.diffusion.sf}")
        self.optimizer = torch.optim.AdamW(self.unet.parameters(), lr=config.lr, betas=(0.9, 0.999),
                                           weight_decay=config.weight_decay)
        self.generator = generator_for(self.device, config.seed)  # timesteps and diffusion noise
        self.step = 0
        self.elapsed_prev = 0.0
        self.val_pairs = None
        self.last_val: dict[str, float] = {}
        self.last_train: dict[str, float] = {}
        self.params = sum(p.numel() for p in self.unet.parameters())
        self._val_step = -1
        self._saved_step = -1
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self.model_fn = torch.compile(self.unet) if config.compile else self.unet
        if config.resume and (self.out_dir / CHECKPOINT).is_file():
            self._resume(self.out_dir / CHECKPOINT)

    # -- state ---------------------------------------------------------------------------
    @property
    def elapsed(self) -> float:
        return self.elapsed_prev + time.monotonic() - self._t0

    def _state(self) -> dict[str, Any]:
        return {
            "step": self.step, "elapsed_s": self.elapsed, "config": self.config.to_dict(),
            "model_name": self.spec.name, "unet_params": json.loads(json.dumps(dict(self.spec.unet_params))),
            "model": self.unet.state_dict(), "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": {"train": self.generator.get_state(), **self.task.rng_state()},
        }

    def _resume(self, path: Path) -> None:
        ckpt = load_checkpoint(path, map_location=self.device)
        if ckpt.get("unet_params") != json.loads(json.dumps(dict(self.spec.unet_params))):
            raise ValueError(f"{path} was trained with other Swin-UNet parameters; use another out_dir")
        self.unet.load_state_dict(ckpt["model"], strict=True)
        self.ema.load_state_dict(ckpt["ema"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.generator.set_state(ckpt["rng"]["train"].cpu())
        self.task.load_rng_state({k: v.cpu() for k, v in ckpt["rng"].items() if k != "train"})
        self.step = int(ckpt["step"])
        self.elapsed_prev = float(ckpt["elapsed_s"])
        log.info("resumed %s from %s at step %d (%.0f s trained)", self.spec.name, path, self.step,
                 self.elapsed_prev)

    def save(self) -> Path:
        """Checkpoint (and export) the current state; refuses non-finite EMA weights, so a diverged
        run never overwrites the last good files."""
        bad = [k for k, v in self.ema.state_dict().items() if v.is_floating_point() and not bool(v.isfinite().all())]
        if bad:
            raise FloatingPointError(f"step {self.step}: non-finite EMA weights ({bad[:3]}...); not saving")
        state = self._state()
        path = save_checkpoint(self.out_dir / CHECKPOINT, state)
        if self.config.export_file:
            write_fp16_safetensors(state["ema"], self.config.export_file, export_metadata(state))
        self.write_summary()
        self._saved_step = self.step
        log.info("step %d: checkpoint %s%s", self.step, path,
                 f", export {self.config.export_file}" if self.config.export_file else "")
        return path

    # -- logging -------------------------------------------------------------------------
    def _record(self, record: dict[str, Any]) -> None:
        record = {"step": self.step, "elapsed_s": round(self.elapsed, 2), **record}
        with open(self.out_dir / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def summary(self, stopped_by: str = "running") -> dict[str, Any]:
        cuda = self.device.type == "cuda"
        samples = self.step * self.config.batch_size
        return {
            "model": self.spec.name, "task": self.config.task, "params": self.params,
            "iterations": self.step, "batch_size": self.config.batch_size,
            "seconds": round(self.elapsed, 1), "images_per_s": round(samples / max(1e-9, self.elapsed), 1),
            "final_loss": self.last_train.get("loss"), "val": self.last_val or None,
            "val_psnr": self.last_val.get("psnr"), "stopped_by": stopped_by,
            "device": torch.cuda.get_device_name(self.device) if cuda else "cpu",
            "torch": torch.__version__, "precision": self.precision,
            "export_path": None if self.config.export_file is None else str(self.config.export_file),
        }

    def write_summary(self, stopped_by: str = "running") -> dict[str, Any]:
        data = self.summary(stopped_by)
        _write_json(self.out_dir / "summary.json", data)
        return data

    # -- validation ----------------------------------------------------------------------
    def run_validation(self) -> dict[str, float] | None:
        cfg = self.config
        if not cfg.val_dir:
            return None
        if self.val_pairs is None:
            size = cfg.val_size or cfg.crop_size
            self.val_pairs = validation_pairs(cfg.task, cfg.degradation, cfg.val_dir, cfg.val_images, size,
                                              cfg.crop_mode == "resize", cfg.seed + 1000, self.device,
                                              hole_fill=self.spec.hole_fill)
        t0 = time.monotonic()
        result = validate(self.ema.model, self.first_stage, self.spec.diffusion, self.val_pairs,
                          seed=cfg.seed, precision=self.precision)
        self.last_val = {**result, "seconds": round(time.monotonic() - t0, 2)}
        self._val_step = self.step
        self._record({"kind": "val", **self.last_val})
        log.info("step %d: val PSNR %.2f dB (input %.2f dB) on %d images", self.step, result["psnr"],
                 result["psnr_input"], result["images"])
        return self.last_val

    # -- training ------------------------------------------------------------------------
    def loader(self) -> DataLoader:
        cfg = self.config
        crop = CropConfig(size=cfg.crop_size, mode=cfg.crop_mode, scale_range=cfg.crop_scale, hflip=cfg.hflip)
        total = cfg.iterations * cfg.batch_size
        dataset = ImageFolder(cfg.data_dir, crop, seed=cfg.seed, length=total, transform=self.task.transform,
                              cache=cfg.cache_images, uint8=True)  # 8-bit through the loader
        log.info("%d training images in %s%s", len(dataset.paths), cfg.data_dir,
                 " (decoded in memory)" if cfg.cache_images else "")
        workers = min(cfg.num_workers, len(os.sched_getaffinity(0)))  # no more than the CPUs we have
        if workers < cfg.num_workers:
            log.info("num_workers %d -> %d (the CPUs this process may use)", cfg.num_workers, workers)
        return DataLoader(
            dataset, batch_size=cfg.batch_size, sampler=range(self.step * cfg.batch_size, total),
            num_workers=workers, pin_memory=self.device.type == "cuda", drop_last=True,
            prefetch_factor=4 if workers else None, worker_init_fn=_worker_init if workers else None,
        )

    def train_step(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        pair = self.task.pair(batch, self.device)
        lr = learning_rate(cfg, self.step, self.elapsed)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.unet.train()
        with _autocast(self.device, self.precision):
            loss = self.objective.loss(self.model_fn, pair, self.generator)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        max_norm = cfg.grad_clip if cfg.grad_clip > 0 else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.unet.parameters(), max_norm)
        self.optimizer.step()
        self.step += 1
        self.ema.update(self.unet, self.step)
        return loss, grad_norm

    def _time_is_up(self) -> bool:
        budget = self.config.time_budget_s
        return budget is not None and self.elapsed >= budget

    def run(self, max_steps: int | None = None) -> dict[str, Any]:
        """Train to ``iterations`` (or the time budget, a signal, or ``max_steps`` more steps in
        this call), then checkpoint, export and validate; returns the summary."""
        cfg = self.config
        stop_at = cfg.iterations if max_steps is None else min(cfg.iterations, self.step + max_steps)
        log.info("training %s (%s, %.2f M parameters) on %s, %s, batch %d, from step %d to %d%s",
                 self.spec.name, cfg.task, self.params / 1e6, self.device, self.precision, cfg.batch_size,
                 self.step, cfg.iterations,
                 f", time budget {cfg.time_budget_s:.0f} s" if cfg.time_budget_s else "")
        stopped_by = "iterations"
        meter = _Meter(since=time.monotonic())
        last_ckpt = time.monotonic()
        with _stop_on_signals(self._stop):
            if self.step < cfg.iterations and not self._time_is_up():
                for batch in self.loader():
                    loss, grad_norm = self.train_step(batch)
                    meter.add(loss, grad_norm, cfg.batch_size)
                    if self.step % cfg.log_every == 0:
                        self.last_train = {**meter.flush(), "lr": learning_rate(cfg, self.step, self.elapsed)}
                        if not math.isfinite(self.last_train["loss"]):
                            raise FloatingPointError(f"loss is {self.last_train['loss']} at step {self.step}")
                        self._record({"kind": "train", **self.last_train})
                        log.info("step %d: loss %.5f, grad %.3f, lr %.2e, %.1f img/s, %.0f s", self.step,
                                 self.last_train["loss"], self.last_train["grad_norm"], self.last_train["lr"],
                                 self.last_train["images_per_s"], self.elapsed)
                    if cfg.val_every and self.step % cfg.val_every == 0:
                        self.run_validation()
                    if (cfg.ckpt_every and self.step % cfg.ckpt_every == 0) or \
                            (cfg.ckpt_every_s and time.monotonic() - last_ckpt >= cfg.ckpt_every_s):
                        self.save()
                        last_ckpt = time.monotonic()
                    if self._stop.is_set():
                        stopped_by = "signal"
                        break
                    if self._time_is_up():
                        stopped_by = "time_budget"
                        break
                    if self.step >= stop_at:
                        stopped_by = "iterations" if stop_at == cfg.iterations else "max_steps"
                        break
            elif self._time_is_up():
                stopped_by = "time_budget"
        if meter.count:
            self.last_train = {**meter.flush(), "lr": learning_rate(cfg, self.step, self.elapsed)}
            self._record({"kind": "train", **self.last_train})
        if self._saved_step != self.step:
            self.save()
        if cfg.val_dir and self._val_step != self.step:
            self.run_validation()
        summary = self.write_summary(stopped_by)
        log.info("done: %d steps in %.0f s (%s), final loss %s, val PSNR %s", self.step, self.elapsed,
                 stopped_by, summary["final_loss"], summary["val_psnr"])
        return summary


def train(config: TrainConfig) -> dict[str, Any]:
    """Run (or resume) a training run; returns its summary (also in ``out_dir/summary.json``)."""
    return Trainer(config).run()


def evaluate(config_path: Path, weights: Path, overrides: list[str] = (), device: str | None = None) -> dict:
    """Validation PSNR of exported ``weights`` (loaded with strict keys into the config's model) on
    the config's ``val_dir``, as the training loop measures it."""
    config = load_config(config_path, overrides)
    if not config.val_dir:
        raise ValueError(f"{config_path} has no val_dir")
    dev = resolve_device(device or config.device)
    spec = resolve_spec(config)
    unet, first_stage = trainable_networks(spec, dev, channels_last=False)
    unet.load_state_dict(load_file(str(weights), device=str(dev)), strict=True)  # fp16 -> float32 copy
    unet.eval()
    pairs = validation_pairs(config.task, config.degradation, config.val_dir, config.val_images,
                             config.val_size or config.crop_size, config.crop_mode == "resize",
                             config.seed + 1000, dev, hole_fill=spec.hole_fill)
    t0 = time.monotonic()
    precision = "bf16" if dev.type == "cuda" else "fp32"
    result = validate(unet, first_stage, spec.diffusion, pairs, seed=config.seed, precision=precision)
    return {"model": spec.name, "weights": str(weights), "size_mib": round(weights.stat().st_size / 2**20, 2),
            **result, "seconds": round(time.monotonic() - t0, 2), "device": str(dev)}
