"""Command line: ``python -m resshift {sr,inpaint,face} INPUT -o OUT [options]``.

INPUT is an image file or a folder of images; OUT is a file (single input) or a folder. Bad input
files are reported and skipped; the rest are processed. A video INPUT is restored frame by frame
into an MP4 (``cli_video.py``). stdout carries one JSON line per result (``cli_lines.py``);
everything else goes to stderr. Exit status: 0 all done, 1 some failed, 2 usage or model errors.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from PIL import Image, ImageFile

from . import video as cli_video
from ..catalog import all_models, availability, default_model_for
from .lines import result_line, skipped_line
from ..diffusion.schedule import SPACINGS
from ..pipelines.files import folder_inputs, mask_for, output_names, restore_file
from ..media.image import parse_pixels
from ..runtime.malloc import tune_malloc
from ..manager import ModelManager
from ..pipelines import PhotoOptions, RestoreOptions, check_task
from ..pipelines.registry import TASK_REGISTRY
from ..pipelines.request import RestoreRequest, execute
from ..pipelines.color import COLOR_FIXES
from ..pipelines.options import SCALES, SR_SCALES
from ..settings import offline_by_env, resolve_device
from ..weights import default_cache_dir, mismatched_copy, weight_status, weights_folder
from ..weights.registry import SELF_ENSEMBLES, ModelSpec, WeightFile

log = logging.getLogger("resshift")

SCALE_CHOICES = sorted({*SCALES, *SR_SCALES})

DEFAULT_SEED = 42
"""The seed of a run that names none: the studio's too, so the same input gives the same result in
both (``--seed`` / the studio's seed field for another; the library draws a fresh one)."""


def _pixels(text: str) -> int:
    """'1024x1024' or '1048576' -> a pixel count (argparse type); '0' = no limit."""
    try:
        return parse_pixels(text, allow_zero=True)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m resshift", description="ResShift image restoration",
        usage=f"%(prog)s {{{','.join(TASK_REGISTRY)}}} INPUT -o OUTPUT [options]\n       %(prog)s --list-models")
    p.add_argument("task", nargs="?", choices=list(TASK_REGISTRY),
                   help="; ".join(f"{t.name}: {t.help}" for t in TASK_REGISTRY.values()))
    p.add_argument("input", nargs="?", type=Path, help="an image or video file, or a folder of images")
    p.add_argument("-o", "--output", type=Path, help="output file (one input) or folder (required)")
    p.add_argument("--mask", type=Path, help="inpainting mask file, or a folder of masks named like the "
                   "inputs (NAME.png or NAME_mask.png; may be the input folder itself)")
    p.add_argument("--steps", type=int, help="sampling steps (default: the model's trained steps)")
    p.add_argument("--kappa", type=float, help="noise scale kappa (default: the model's trained value)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED,
                   help=f"random seed (default {DEFAULT_SEED}, as the studio's)")
    p.add_argument("--spacing", choices=SPACINGS, help="timestep respacing (default: the model's, trailing)")
    p.add_argument("--model", default="auto",
                   help="model name (see --list-models); default auto: the best model of the task that can "
                        "run here: on CUDA the official one (downloaded unless --offline), on a CPU the "
                        "bundled lite one")
    p.add_argument("--model-spec", type=Path, help="JSON ModelSpec of a custom model (its weight files "
                   "are looked up like any other: --weights-dir, or explicit --unet-weights)")
    p.add_argument("--unet-weights", type=Path, help="explicit Swin-UNet weight file")
    p.add_argument("--first-stage-weights", type=Path, help="explicit autoencoder weight file")
    p.add_argument("--weights-dir", type=Path, help="folder with weight files (or RESSHIFT_WEIGHTS_DIR)")
    p.add_argument("--weights-mirror", metavar="URL", help="base URL that replaces the release prefix of every "
                   "weight download (or RESSHIFT_WEIGHTS_MIRROR)")
    p.add_argument("--offline", action="store_true", default=offline_by_env(),
                   help="never download weights (or RESSHIFT_OFFLINE=1)")
    p.add_argument("--device", help="cpu, cuda, cuda:N or auto (default RESSHIFT_DEVICE, else auto)")
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
    p.add_argument("--scale", type=int, choices=SCALE_CHOICES,
                   help="output scale: sr 2, 3 or 4 (default 4: the models are x4 models; x2 and x3 are their "
                        "x4 result downscaled); face: 1 (default), 2 or 4 for whole photos")
    p.add_argument("--self-ensemble", type=int, choices=SELF_ENSEMBLES, metavar="VIEWS",
                   help="restore 1, 2 or 4 flipped views of the input (as it is, mirrored, upside down, both) "
                        "and average them: steadier, that many times the work (default: the model's own; "
                        "lite-inpaint 4, the others 1)")
    p.add_argument("--color-fix", choices=COLOR_FIXES, default="none",
                   help="pull the result's colours towards the input's: wavelet (keep its detail, take the "
                        "input's low frequencies) or adain (match each channel's mean and spread); default none")
    p.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                   help='run on Ray Data: a local Ray, or the cluster at ADDRESS (host:port or auto); one model '
                        'replica per GPU, else CPU replicas; existing outputs are kept (pip install "ray[data]")')
    p.add_argument("--ray-actors", type=int, metavar="N", help="--ray: model replicas (default: one per GPU, "
                   "else one per node, each with an equal share of the CPUs)")
    p.add_argument("--list-models", action="store_true", help="print the models and exit")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bars or INFO lines on stderr (warnings, errors and skipped files still show)")
    cli_video.add_arguments(p)
    return p


def _output_paths(inputs: list[Path], output: Path, many: bool) -> list[Path]:
    """One output per input: ``OUT`` for a single input to a file name, else ``OUT/<name>``
    (``resshift.pipelines.files.output_names``: inputs sharing a stem keep their suffix, a_jpg.png)."""
    if not many and output.suffix and not output.is_dir():
        return [output]
    return [output / n for n in output_names([p.name for p in inputs])]


def _image_suffixes() -> frozenset[str]:
    """The suffixes Pillow writes images as (lower case, with the dot): its registered extensions
    whose format has a save handler, less the stub formats that need an outside one (HDF5, BUFR, ...)."""
    Image.init()

    def stub(fmt: str) -> bool:
        factory = Image.OPEN.get(fmt, (None,))[0]
        return isinstance(factory, type) and issubclass(factory, ImageFile.StubImageFile)

    return frozenset(ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.SAVE and not stub(fmt))


def _check_image_output(output: Path) -> None:
    """ValueError unless Pillow can write an image named ``output``."""
    if output.suffix.lower() not in _image_suffixes():
        raise ValueError(f"cannot write an image as {output.name}: {output.suffix} is not an image format "
                         f"Pillow writes; name the output e.g. {output.stem}.png (or .jpg, .webp, .tif)")


def _check_weights_offline(manager: ModelManager, name: str, files: Sequence[WeightFile]) -> None:
    """With downloads off, a model whose weight ``files`` (those looked up, not given by path) are
    not on disk is a usage error, said in the command line's words: ValueError naming the files,
    their URLs, where they were looked for and the flags that matter."""
    if manager.allow_download:
        return
    absent = [f for f in files if weight_status(f, weights_dir=manager.weights_dir) == "downloadable"]
    if not absent:
        return
    wrong = [(f, why) for f in absent if (why := mismatched_copy(f, weights_dir=manager.weights_dir))]
    if wrong:  # on disk, but not the file the model needs: say so, not "not on disk"
        what = "; ".join(f"{f.filename} ({why})" for f, why in wrong)
        raise ValueError(
            f"cannot load model {name!r}: {what}: the file on disk does not match the one this model needs "
            f"(damaged, truncated or another file under its name). Replace it with the file from {wrong[0][0].url} "
            "(or delete it and run without --offline to download it)")
    folders = [str(d) for d in (weights_folder(manager.weights_dir), default_cache_dir()) if d]
    what = ", ".join(f"{f.filename} ({f.url})" for f in absent)
    its, it = ("its weight file", "it") if len(absent) == 1 else ("its weight files", "them")
    raise ValueError(
        f"cannot load model {name!r}: {its} {what} {'is' if len(absent) == 1 else 'are'} not on disk "
        f"(looked in {' and '.join(folders)}) and --offline (or RESSHIFT_OFFLINE=1) turns downloads off: "
        f"download {it} into a folder and name it with --weights-dir (or RESSHIFT_WEIGHTS_DIR), "
        f"or run without --offline")


def _specs(custom_spec: Path | None) -> list[ModelSpec]:
    """The catalogue, plus (or with its entry of the same name replaced by) a --model-spec JSON."""
    specs = list(all_models())
    if custom_spec is None:
        return specs
    try:
        custom = ModelSpec.from_dict(json.loads(custom_spec.read_text()))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"--model-spec {custom_spec}: {exc}") from exc
    return [s for s in specs if s.name != custom.name] + [custom]


@dataclass(frozen=True)
class _Plan:
    """A checked command line: what to run on which files."""

    manager: ModelManager
    spec: ModelSpec
    options: RestoreOptions
    photo: PhotoOptions | None
    inputs: list[Path]
    outputs: list[Path]
    many: bool


def _plan(parser: argparse.ArgumentParser, args: argparse.Namespace) -> _Plan:
    """Every usage error, found before any weights are loaded or downloaded (parser.error: one
    'error:' line, exit status 2). The options' rules are the library's (InvalidRequest)."""
    missing = [n for n, v in (("task", args.task), ("input", args.input), ("-o/--output", args.output)) if v is None]
    if missing:
        parser.error(f"the following arguments are required: {', '.join(missing)}")
    try:
        specs = _specs(args.model_spec)
        task = TASK_REGISTRY[args.task]
        options = RestoreOptions(steps=args.steps, kappa=args.kappa, seed=args.seed, spacing=args.spacing,
                                 tile=args.tile, color_fix=args.color_fix, cuda_graphs=args.cuda_graphs,
                                 compile=args.compile, scale=None if task.photo else args.scale,
                                 self_ensemble=args.self_ensemble)
        photo = PhotoOptions(scale=args.scale or 1) if task.photo and not args.aligned else None
        if task.photo and args.aligned and args.scale not in (None, 1):
            raise ValueError("--scale is for whole photos; an aligned face keeps its size (drop --aligned)")
        if args.mask is not None and not task.mask:
            raise ValueError(f"--mask is for inpainting; {args.task} takes no mask (drop --mask)")
        if args.aligned and not task.photo:
            raise ValueError(f"--aligned is for face restoration; {args.task} takes no faces (drop --aligned)")
        try:
            device = resolve_device(args.device)
        except ValueError as exc:
            raise ValueError(f"--{exc}") from None
        if task.mask:
            if args.mask is None:
                raise ValueError("inpainting needs --mask (a mask file, or a folder of masks)")
            if not args.mask.exists():
                raise ValueError(f"--mask {args.mask} does not exist")
        inputs = folder_inputs(args.input, args.mask if task.mask else None)
        if not inputs:
            raise ValueError(f"no images in {args.input}")
        many = len(inputs) > 1 or args.input.is_dir()
        if many and args.output.exists() and not args.output.is_dir():
            raise ValueError(f"{args.output} is a file; a folder of inputs needs an output folder")
        outputs = _output_paths(inputs, args.output, many)
        if not many and cli_video.is_video(inputs[0]):
            outputs = [cli_video.target_for(inputs[0], args.output)]  # an MP4
        elif not many:
            _check_image_output(outputs[0])
        manager = ModelManager(specs, device=device, weights_dir=args.weights_dir,
                               allow_download=not args.offline, max_loaded=4, mirror=args.weights_mirror)
        name = specs[-1].name if args.model_spec and args.model == "auto" else args.model
        if name == "auto":
            name = default_model_for(manager, args.task)
        spec = manager.spec(name)
        check_task(spec, args.task)
        options = options.resolve(spec)
        given = ((spec.unet_weights, args.unet_weights), (spec.first_stage_weights, args.first_stage_weights))
        _check_weights_offline(manager, spec.name, [f for f, path in given if f is not None and path is None])
    except (ValueError, TypeError, FileNotFoundError, KeyError) as exc:
        parser.error(str(exc))
    return _Plan(manager, spec, options, photo, inputs, outputs, many)


def _list_models(specs: list[ModelSpec], weights_dir: Path | None, offline: bool) -> None:
    """One line per model: name, task, where its weights are, steps, title (no network, no torch
    work beyond the catalogue)."""
    manager = ModelManager(specs, device="cpu", weights_dir=weights_dir, allow_download=not offline)
    words = {"local": "on disk", "cached": "on disk", "bundled": "bundled", "downloadable": "download",
             "offline": "offline", "missing": "missing"}
    print(f"{'model':18s} {'task':8s} {'weights':9s} {'steps':6s} title")
    for s in specs:
        steps = str(s.default_steps) + ("" if s.default_steps == s.diffusion.steps else f"/{s.diffusion.steps}")
        print(f"{s.name:18s} {s.task:8s} {words[availability(manager, s.name)]:9s} {steps:6s} {s.title}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname)s %(message)s")
    if args.list_models:  # needs no task, input or output
        try:
            specs = _specs(args.model_spec)
        except ValueError as exc:
            parser.error(exc.args[0])
        _list_models(specs, args.weights_dir, args.offline)
        return 0
    plan = _plan(parser, args)
    if args.ray is not None:  # the same plan on a Ray cluster, one model replica per GPU (cluster.py)
        if not plan.many and cli_video.is_video(plan.inputs[0]):
            parser.error(f"--ray restores images; restore the video {plan.inputs[0].name} without --ray")
        from .cluster import run_on_ray

        return run_on_ray(plan, args)
    name = plan.spec.name
    tune_malloc()
    manager = plan.manager
    try:
        if args.unet_weights or args.first_stage_weights:
            from ..loader import load_model

            manager.put(load_model(plan.spec, device=manager.device, weights_dir=args.weights_dir,
                                   unet_path=args.unet_weights, first_stage_path=args.first_stage_weights,
                                   allow_download=not args.offline, mirror=args.weights_mirror))
        manager.get(name)
    except Exception as exc:  # report model/weight problems in one line, not a traceback
        print(f"error: cannot load model {name!r}: {exc}", file=sys.stderr)
        return 2
    if not plan.many and cli_video.is_video(plan.inputs[0]):  # a video: frames restored into an MP4
        return cli_video.run(args, plan.outputs[0], name, plan.options, plan.photo, manager)
    if plan.many:
        args.output.mkdir(parents=True, exist_ok=True)
    from tqdm import tqdm

    failures = 0
    limit = args.max_pixels or None
    bar = tqdm(list(zip(plan.inputs, plan.outputs)), unit="img", disable=args.quiet, file=sys.stderr)
    for inp, out in bar:
        bar.set_postfix_str(inp.name)

        def run(inp=inp):
            mask = mask_for(inp, args.mask) if TASK_REGISTRY[args.task].mask else None
            return execute(manager, RestoreRequest(args.task, name, inp, plan.options, mask=mask, photo=plan.photo,
                                                   max_pixels=limit))

        outcome = restore_file(inp, out, run)
        if outcome.ok:
            tqdm.write(result_line(inp, out, outcome.result.facts()), file=sys.stdout)
        else:
            failures += 1
            tqdm.write(skipped_line(inp.name, outcome.reason), file=sys.stderr)
    bar.close()
    if failures:
        print(f"{failures} of {len(plan.inputs)} inputs failed", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":  # python -m resshift.cli (python -m resshift is the same)
    raise SystemExit(main())
