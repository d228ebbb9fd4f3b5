"""Prepare what ``scripts/gpu_train.sh`` needs on a GPU machine without network access.

    python scripts/pack_gpu_data.py [--shared ../shared] [--skip-wheels] [--skip-verify]

Run from the repository root on a machine that holds the datasets (``--shared DIR`` with
``datasets/natural/{train,val}`` and ``datasets/faces/{train,val}``) and can reach PyPI (for the
wheel); then copy ``.gpu_data/`` and ``.whl/`` into the GPU machine's checkout. Writes (both folders
are git-ignored):

- ``.gpu_data/natural/``      ImageNet training photos, short side 288 px, JPEG q90
- ``.gpu_data/faces/``        aligned training faces, 512 x 512, JPEG q90
- ``.gpu_data/val/natural/``  Set14 (short side at most 320 px), JPEG q95

about 26 MiB in all (short side 320 / q92 would be 33 MiB, over the 30 MB this script allows, so
that the data stays quick to copy).
- ``.gpu_data/val/faces/``    4 validation faces, 512 x 512, JPEG q95
- ``.whl/``                   the wheels the GPU machine lacks: only basicsr 1.4.2 (built here as a
                              pure-Python wheel). Its other requirements (addict, lmdb, yapf,
                              future, tb-nightly) are not imported by ``import basicsr`` nor by the
                              parts used here; the check below proves it.

The check installs the wheels into a scratch folder and imports basicsr from there in a fresh
interpreter in which addict, lmdb, yapf, future, tensorboard and this machine's own basicsr are
blocked, so it sees only what the GPU machine has.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
EXTS = {".jpg", ".jpeg", ".png", ".webp"}
BASICSR = "basicsr==1.4.2"
# basicsr's declared requirements that the GPU machine does not have
ABSENT_ON_GPU = ("addict", "lmdb", "yapf", "future", "past", "libfuturize", "tensorboard", "tb_nightly")


def _images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"missing dataset folder {folder}")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in EXTS)


def _save(image: Image.Image, out: Path, quality: int) -> int:
    out.parent.mkdir(parents=True, exist_ok=True)
    image.convert("RGB").save(out, format="JPEG", quality=quality, optimize=True)
    return out.stat().st_size


def _short_side(image: Image.Image, short: int) -> Image.Image:
    w, h = image.size
    scale = short / min(w, h)
    if scale >= 1:
        return image
    return image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.LANCZOS)


def _square(image: Image.Image, side: int) -> Image.Image:
    return image if image.size == (side, side) else image.resize((side, side), Image.LANCZOS)


def pack(shared: Path, out: Path, short_side: int = 288, quality: int = 90) -> int:
    """Write the image folders (training images at ``quality``); returns the total size in bytes."""
    if out.exists():
        shutil.rmtree(out)
    datasets = shared / "datasets"
    jobs = [
        (_images(datasets / "natural" / "train"), out / "natural", lambda im: _short_side(im, short_side),
         quality),
        (_images(datasets / "faces" / "train"), out / "faces", lambda im: _square(im, 512), quality),
        (_images(datasets / "natural" / "val" / "set14"), out / "val" / "natural",
         lambda im: _short_side(im, 320), 95),
        (_images(datasets / "faces" / "val")[:2] + _images(datasets / "faces" / "val")[-2:],
         out / "val" / "faces", lambda im: _square(im, 512), 95),
    ]
    total = 0
    for paths, folder, transform, quality in jobs:
        size = 0
        for path in paths:
            with Image.open(path) as image:
                size += _save(transform(image.convert("RGB")), folder / f"{path.stem}.jpg", quality)
        print(f"{folder.relative_to(out.parent)}: {len(paths)} images, {size / 2**20:.1f} MiB")
        total += size
    print(f"total {total / 2**20:.1f} MiB ({total / 1e6:.1f} MB) in {out}")
    return total


def build_wheels(wheels: Path) -> list[Path]:
    if wheels.exists():
        shutil.rmtree(wheels)
    wheels.mkdir()
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), BASICSR],
                   check=True, timeout=600)
    built = sorted(wheels.glob("*.whl"))
    for whl in built:
        if not whl.name.endswith("-py3-none-any.whl"):
            raise RuntimeError(f"{whl.name} is not a pure-Python wheel: it would not install on the GPU machine")
        print(f"{whl.name}: {whl.stat().st_size / 1024:.0f} KiB")
    return built


_CHECK = textwrap.dedent("""
    import importlib.abc, importlib.machinery, sys
    site, absent = sys.argv[1], set(sys.argv[2].split(","))
    attempted = []

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            top = name.split(".")[0]
            if top in absent:
                attempted.append(top)
                raise ModuleNotFoundError(f"{top} is not on the GPU machine")
            if top == "basicsr":
                spec = importlib.machinery.PathFinder.find_spec(name, path if path else [site])
                if spec is None or not str(spec.origin).startswith(site):
                    raise ModuleNotFoundError(f"{name} must come from the wheel in {site}")
                return spec
            return None

    sys.meta_path.insert(0, Block())
    from resshift.runtime.compat import install_torchvision_compat
    print("shims:", install_torchvision_compat())
    import basicsr
    from basicsr.data.degradations import bivariate_Gaussian, circular_lowpass_kernel
    from basicsr.utils import DiffJPEG, USMSharp
    from basicsr.utils.img_process_util import filter2D
    import resshift.data, resshift.train
    assert basicsr.__file__.startswith(site), basicsr.__file__
    print("basicsr", basicsr.__version__, "from", basicsr.__file__)
    print("imports attempted of the absent packages:", sorted(set(attempted)) or "none")
""")


def verify(wheels: Path) -> None:
    """Import basicsr using only the wheels (plus what the GPU machine has)."""
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--target",
                        str(site), *map(str, sorted(wheels.glob("*.whl")))], check=True, timeout=300)
        result = subprocess.run([sys.executable, "-c", _CHECK, str(site), ",".join(ABSENT_ON_GPU)],
                                cwd=REPO, capture_output=True, text=True, timeout=300)
        print(result.stdout.strip())
        if result.returncode:
            raise RuntimeError(f"basicsr does not import from the wheels alone:\n{result.stderr[-3000:]}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    p.add_argument("--out", type=Path, default=REPO / ".gpu_data")
    p.add_argument("--wheels", type=Path, default=REPO / ".whl")
    p.add_argument("--short-side", type=int, default=288, help="short side of the natural training images")
    p.add_argument("--quality", type=int, default=90, help="JPEG quality of the training images")
    p.add_argument("--skip-data", action="store_true")
    p.add_argument("--skip-wheels", action="store_true")
    p.add_argument("--skip-verify", action="store_true")
    args = p.parse_args()
    if not args.skip_data:
        total = pack(args.shared, args.out, args.short_side, args.quality)
        if total > 30e6:
            raise SystemExit(f"packed data is {total / 1e6:.1f} MB, over the 30 MB budget")
    if not args.skip_wheels:
        build_wheels(args.wheels)
    if not args.skip_verify:
        verify(args.wheels)


if __name__ == "__main__":
    main()
