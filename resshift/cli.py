"""Command line: ``python -m resshift {sr,inpaint,face} INPUT -o OUT [options]``.

INPUT is an image file or a folder of images; OUT is a file (single input) or a folder. Bad input
files are reported and skipped; the rest are processed. Exit status: 0 all done, 1 some failed,
2 usage or model errors.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from .catalog import all_models, default_model
from .malloc import tune_malloc
from .manager import ModelManager
from .pipelines import InvalidImageError, InvalidMaskError, RestoreOptions, inpaint, restore_face, super_resolve
from .weights.registry import ModelSpec

log = logging.getLogger("resshift")

# files a folder input picks up (HEIC/AVIF too: where Pillow cannot read them they are reported)
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".avif", ".heic", ".heif"}


def _pixels(text: str) -> int:
    """'1024x1024' or '1048576' -> a pixel count (argparse type); '0' = no limit."""
    try:
        w, _, h = text.lower().partition("x")
        value = int(w) * int(h) if h else int(w)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT or a pixel count, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a pixel limit cannot be negative, got {text!r}")
    return value


def _free_cuda_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and (
        "out of memory" in str(exc).lower() or "can't allocate memory" in str(exc)))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m resshift", description="ResShift image restoration")
    p.add_argument("task", choices=["sr", "inpaint", "face"])
    p.add_argument("input", type=Path, help="an image file or a folder of images")
    p.add_argument("-o", "--output", type=Path, required=True, help="output file (one input) or folder")
    p.add_argument("--mask", type=Path, help="inpainting mask file, or a folder of masks with the inputs' names")
    p.add_argument("--steps", type=int, help="sampling steps (default: the model's trained steps)")
    p.add_argument("--kappa", type=float, help="noise scale kappa (default: the model's trained value)")
    p.add_argument("--seed", type=int, help="random seed (default: a fresh one, printed)")
    p.add_argument("--spacing", choices=["trailing", "leading"], default="trailing")
    p.add_argument("--model", default="auto", help="model name (see --list-models); auto = best available")
    p.add_argument("--model-spec", type=Path, help="JSON ModelSpec of a custom model (its weight files "
                   "are looked up like any other: --weights-dir, or explicit --unet-weights)")
    p.add_argument("--unet-weights", type=Path, help="explicit Swin-UNet weight file")
    p.add_argument("--first-stage-weights", type=Path, help="explicit autoencoder weight file")
    p.add_argument("--weights-dir", type=Path, help="folder with weight files (or RESSHIFT_WEIGHTS_DIR)")
    p.add_argument("--offline", action="store_true", help="never download weights")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--tile", type=int, help="largest tile in input pixels (0 = no tiling)")
    p.add_argument("--cuda-graphs", action="store_true",
                   help="CUDA: record each input size's restoration as a CUDA graph and replay it "
                        "(faster from the second image of a size on; same output; tiled images run eagerly)")
    p.add_argument("--compile", action="store_true",
                   help="CUDA: torch.compile the VQ autoencoder (about 20 s for each new input size, "
                        "then faster; pays for many images or tiles of one size)")
    p.add_argument("--max-pixels", type=_pixels, default=0,
                   help="skip inputs larger than this, e.g. 2048x2048, checked from the file header "
                        "before decoding (default 0: no limit besides Pillow's decompression-bomb guard)")
    p.add_argument("--aligned", action="store_true", help="face: the inputs are aligned 512x512 faces")
    p.add_argument("--scale", type=int, default=1, choices=[1, 2, 4], help="face: output scale of whole photos")
    p.add_argument("--color-fix", choices=["none", "wavelet", "adain"], default="none")
    p.add_argument("--list-models", action="store_true", help="print the models and exit")
    p.add_argument("-q", "--quiet", action="store_true")
    return p


def _inputs(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not path.exists():
        raise FileNotFoundError(f"input {path} does not exist")
    return [path]


def _output_path(inp: Path, args: argparse.Namespace, many: bool) -> Path:
    if many or args.output.is_dir() or args.output.suffix == "":
        return args.output / (inp.stem + ".png")
    return args.output


def _mask_for(inp: Path, mask: Path | None) -> Path:
    if mask is None:
        raise InvalidMaskError("inpainting needs --mask")
    if mask.is_dir():
        for cand in [mask / inp.name] + [mask / (inp.stem + s) for s in (".png", ".jpg", ".webp", ".bmp")]:
            if cand.exists():
                return cand
        raise InvalidMaskError(f"no mask named like {inp.name} in {mask}")
    return mask


def _device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("--device cuda was asked for but no CUDA device is available")
    return name


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname)s %(message)s")
    tune_malloc()
    specs = list(all_models())
    if args.model_spec:
        custom = ModelSpec.from_dict(json.loads(args.model_spec.read_text()))
        specs = [s for s in specs if s.name != custom.name] + [custom]
    if args.list_models:
        for s in specs:
            print(f"{s.name:20s} {s.task:8s} {s.title}")
        return 0
    manager = ModelManager(specs, device=_device(args.device), weights_dir=args.weights_dir,
                           allow_download=not args.offline, max_loaded=1)
    name = custom.name if args.model_spec and args.model == "auto" else args.model
    if name == "auto":
        name = default_model(args.task, weights_dir=args.weights_dir)
    try:
        spec = manager.spec(name)
        if spec.task != args.task:
            raise SystemExit(f"model {name} is for task {spec.task!r}, not {args.task!r}")
        if args.unet_weights or args.first_stage_weights:
            from .loader import load_model

            manager.put(load_model(spec, device=manager.device, weights_dir=args.weights_dir,
                                   unet_path=args.unet_weights, first_stage_path=args.first_stage_weights,
                                   allow_download=not args.offline))
        model = manager.get(name)
    except Exception as exc:  # report model/weight problems in one line, not a traceback
        print(f"error: cannot load model {name!r}: {exc}", file=sys.stderr)
        return 2
    try:
        inputs = _inputs(args.input)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not inputs:
        print(f"error: no images in {args.input}", file=sys.stderr)
        return 2
    many = len(inputs) > 1 or args.input.is_dir()
    if many:
        args.output.mkdir(parents=True, exist_ok=True)
    from tqdm import tqdm

    failures = 0
    bar = tqdm(inputs, unit="img", disable=args.quiet)
    for inp in bar:
        bar.set_postfix_str(inp.name)
        opts = RestoreOptions(steps=args.steps, kappa=args.kappa, seed=args.seed, spacing=args.spacing,
                              tile=args.tile, color_fix=args.color_fix, cuda_graphs=args.cuda_graphs,
                              compile=args.compile)
        limit = args.max_pixels or None
        try:
            if args.task == "sr":
                result = super_resolve(model, inp, opts, max_pixels=limit)
                image = result.image
            elif args.task == "inpaint":
                result = inpaint(model, inp, _mask_for(inp, args.mask), opts, max_pixels=limit)
                image = result.image
            elif args.aligned:
                result = restore_face(model, inp, opts, max_pixels=limit)
                image = result.image
            else:
                from .pipelines.face_photo import restore_photo_with_model

                photo = restore_photo_with_model(model, inp, opts, scale=args.scale, max_pixels=limit)
                image, result = photo.image, photo
            out = _output_path(inp, args, many)
            out.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.ascontiguousarray(image)).save(out)
            facts = result.facts() if hasattr(result, "facts") else {}
            tqdm.write(f"{inp.name} -> {out} " + json.dumps(facts))
        except (InvalidImageError, InvalidMaskError, ValueError, OSError) as exc:
            failures += 1
            tqdm.write(f"skipped {inp.name}: {exc}")
        except (MemoryError, RuntimeError) as exc:
            if not _out_of_memory(exc):
                raise
            failures += 1
            log.warning("out of memory on %s: %s", inp.name, exc)
            _free_cuda_cache()
            tqdm.write(f"skipped {inp.name}: out of memory; try a smaller --tile or --max-pixels")
    if failures:
        print(f"{failures} of {len(inputs)} inputs failed", file=sys.stderr)
    return 1 if failures else 0
