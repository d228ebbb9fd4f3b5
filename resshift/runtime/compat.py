"""Import shims that let basicsr 1.4.2 (and gfpgan, which imports it) load on current libraries.

basicsr 1.4.2 is the last release and imports three things that newer libraries dropped:

- ``torchvision.transforms.functional_tensor.rgb_to_grayscale`` (``basicsr/data/degradations.py``);
  the private module was removed in torchvision 0.17. :func:`install_torchvision_compat` registers
  a small alias module under that name whose ``rgb_to_grayscale`` is the public
  ``torchvision.transforms.functional.rgb_to_grayscale`` (same numbers: ITU-R 601-2 luma).
- ``distutils.version.LooseVersion`` (``basicsr/archs/arch_util.py``); ``distutils`` left the
  standard library in Python 3.12. setuptools ships a copy: importing setuptools makes
  ``import distutils`` resolve to it.
- ``scipy.ndimage.filters`` (``basicsr/metrics/niqe.py``), a deprecated alias of ``scipy.ndimage``
  that newer SciPy releases may drop; an alias module is registered when it is missing.

Each shim is installed only when the real module cannot be imported, and calling
:func:`install_torchvision_compat` again changes nothing (idempotent). Call it before the first
``import basicsr`` / ``import gfpgan``.
"""
from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
import types

log = logging.getLogger(__name__)

FUNCTIONAL_TENSOR = "torchvision.transforms.functional_tensor"
_MARKER = "__resshift_compat__"


def _missing(name: str) -> bool:
    """True when ``name`` cannot be imported (and is not already registered in sys.modules)."""
    if name in sys.modules:
        return False
    try:
        return importlib.util.find_spec(name) is None
    except ModuleNotFoundError:  # a parent package is missing
        return True


def _alias_functional_tensor() -> bool:
    if not _missing(FUNCTIONAL_TENSOR):
        return False
    from torchvision.transforms import functional

    module = types.ModuleType(FUNCTIONAL_TENSOR, "Alias of the removed torchvision module (resshift.runtime.compat).")
    module.rgb_to_grayscale = functional.rgb_to_grayscale
    setattr(module, _MARKER, True)
    sys.modules[FUNCTIONAL_TENSOR] = module
    log.debug("registered %s -> torchvision.transforms.functional", FUNCTIONAL_TENSOR)
    return True


def _provide_distutils() -> bool:
    if not _missing("distutils"):
        return False
    try:
        import setuptools  # noqa: F401  (its import hook serves `distutils` from setuptools)
    except ImportError as exc:
        raise ImportError(
            "basicsr 1.4.2 imports distutils, which Python >= 3.12 no longer ships; install setuptools"
        ) from exc
    if _missing("distutils"):
        raise ImportError("setuptools is installed but does not provide distutils; basicsr cannot be imported")
    log.debug("distutils provided by setuptools")
    return True


def _alias_scipy_filters() -> bool:
    if importlib.util.find_spec("scipy") is None or not _missing("scipy.ndimage.filters"):
        return False
    import scipy.ndimage

    sys.modules["scipy.ndimage.filters"] = scipy.ndimage
    log.debug("registered scipy.ndimage.filters -> scipy.ndimage")
    return True


def install_torchvision_compat() -> tuple[str, ...]:
    """Install the shims basicsr 1.4.2 needs (see the module docstring); returns the names installed.

    Idempotent: a second call finds the modules present and installs nothing (returns ``()``).
    """
    installed = []
    if _alias_functional_tensor():
        installed.append(FUNCTIONAL_TENSOR)
    if _provide_distutils():
        installed.append("distutils")
    if _alias_scipy_filters():
        installed.append("scipy.ndimage.filters")
    return tuple(installed)


def import_basicsr_degradations() -> types.ModuleType:
    """``basicsr.data.degradations`` after :func:`install_torchvision_compat` (a clear error if absent)."""
    install_torchvision_compat()
    try:
        return importlib.import_module("basicsr.data.degradations")
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            f"the degradation pipelines need basicsr==1.4.2 ({exc}); `pip install basicsr==1.4.2`"
        ) from exc
