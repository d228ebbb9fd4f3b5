"""resshift.runtime.compat: basicsr 1.4.2 imports on current torchvision (and Python/SciPy)."""
import importlib
import sys

import torch

from resshift.runtime import compat


def test_alias_registered_and_idempotent():
    first = compat.install_torchvision_compat()
    module = sys.modules[compat.FUNCTIONAL_TENSOR]
    assert compat.install_torchvision_compat() == ()  # second call installs nothing
    assert sys.modules[compat.FUNCTIONAL_TENSOR] is module
    assert isinstance(first, tuple)


def test_alias_only_when_the_real_module_is_missing():
    compat.install_torchvision_compat()
    module = sys.modules[compat.FUNCTIONAL_TENSOR]
    if getattr(module, "__resshift_compat__", False):
        from torchvision.transforms import functional
        assert module.rgb_to_grayscale is functional.rgb_to_grayscale
    else:  # an old torchvision still ships it: it must be left alone
        assert module.__file__.endswith("functional_tensor.py")


def test_alias_grayscale_numbers():
    compat.install_torchvision_compat()
    from torchvision.transforms.functional_tensor import rgb_to_grayscale

    img = torch.zeros(1, 3, 2, 2)
    img[0, 0, 0, 0] = 1.0  # red
    img[0, 1, 0, 1] = 1.0  # green
    img[0, 2, 1, 0] = 1.0  # blue
    img[0, :, 1, 1] = 0.5  # grey
    out = rgb_to_grayscale(img, num_output_channels=1)
    assert out.shape == (1, 1, 2, 2)
    expected = torch.tensor([[[[0.2989, 0.587], [0.114, 0.5]]]])  # ITU-R 601-2 luma
    torch.testing.assert_close(out, expected, atol=1e-4, rtol=0)
    three = rgb_to_grayscale(img, num_output_channels=3)
    assert three.shape == (1, 3, 2, 2) and torch.equal(three[:, 0], three[:, 2])


def test_basicsr_imports_after_install():
    compat.install_torchvision_compat()
    basicsr = importlib.import_module("basicsr")
    from basicsr.data.degradations import circular_lowpass_kernel, random_mixed_kernels  # noqa: F401
    from basicsr.utils import DiffJPEG, USMSharp  # noqa: F401

    assert basicsr.__version__.startswith("1.4")
    kernel = circular_lowpass_kernel(1.0, 7, pad_to=21)
    assert kernel.shape == (21, 21) and abs(kernel.sum() - 1) < 1e-6


def test_import_basicsr_degradations_helper():
    deg = compat.import_basicsr_degradations()
    assert hasattr(deg, "bivariate_Gaussian")


def test_missing_module_detection():
    assert compat._missing("resshift_no_such_module_xyz")
    assert compat._missing("resshift_no_such_package.sub")
    assert not compat._missing("torch")
