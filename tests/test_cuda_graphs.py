"""CUDA-graph replay of whole restorations (resshift/diffusion/graphs.py).

The replay tests need a GPU and are skipped without one (CI has none; `bash scripts/gpu_speed.sh`
runs them on a CUDA machine). On CPU the option is ignored, which is tested everywhere.
"""
import pytest
import torch

from benchmarks.speed import psnr
from resshift.catalog import find_model
from resshift.diffusion.graphs import CudaGraphs
from resshift.diffusion.sampler import step_coefficients
from resshift.loader import RestorationModel, build_networks
from resshift.pipelines.options import RestoreOptions
from resshift.pipelines.restore import run_model

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _lite(device: str) -> RestorationModel:
    torch.manual_seed(0)
    unet, first = build_networks(find_model("lite-sr"))
    return RestorationModel(find_model("lite-sr"), unet, first).to(device)


def _input(size: int = 32, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(1, 3, size, size, generator=g) * 2 - 1


def test_cuda_graphs_option_is_ignored_on_cpu():
    model = _lite("cpu")
    y = _input()
    a, *_ = run_model(model, y, RestoreOptions(seed=5, precision="fp32"))
    b, *_ = run_model(model, y, RestoreOptions(seed=5, precision="fp32", cuda_graphs=True))
    assert torch.equal(a, b)
    assert len(model.graphs) == 0


def test_graphs_refuse_cpu_tensors():
    model = _lite("cpu")
    y = _input()
    with pytest.raises(ValueError, match="CUDA"):
        CudaGraphs().sample(model.unet, y, model.schedule(), model.spec.diffusion, first_stage=model.first_stage,
                            model_kwargs={"lq": y}, generator=None, precision="fp32")


def test_step_coefficients_are_float32_values():
    model = _lite("cpu")
    c = step_coefficients(model.schedule(), model.spec.diffusion)
    assert len(c.coef1) == len(c.std) == len(c.in_scale) == model.schedule().num_steps
    for value in (c.prior_scale, *c.coef1, *c.coef2, *c.std, *c.in_scale):
        assert torch.tensor(value, dtype=torch.float32).item() == value


@cuda
@pytest.mark.gpu
def test_replay_matches_eager_and_reuses_the_graph():
    model = _lite("cuda")
    y = _input(64).cuda()
    events = []
    options = RestoreOptions(seed=7, precision="fp32")
    eager, *_ = run_model(model, y, options)
    graphed = RestoreOptions(seed=7, precision="fp32", cuda_graphs=True)
    first, *_ = run_model(model, y, graphed, callback=events.append)
    second, *_ = run_model(model, y, graphed)
    assert model.graphs.captures == 1 and len(model.graphs) == 1
    assert (first - eager).abs().max().item() < 1e-4
    assert torch.equal(first, second)
    assert [e.step.index for e in events] == list(range(model.schedule().num_steps))
    other, *_ = run_model(model, y, RestoreOptions(seed=8, precision="fp32", cuda_graphs=True))
    assert (other - first).abs().max().item() > 1e-2  # a new seed is new noise, not the recorded one


@cuda
@pytest.mark.gpu
def test_new_shapes_record_new_graphs_up_to_capacity():
    model = _lite("cuda")
    model.graphs.capacity = 2
    for size in (32, 64, 96):  # distinct after padding to the model's input multiple (32)
        run_model(model, _input(size).cuda(), RestoreOptions(seed=1, precision="fp16", cuda_graphs=True))
    assert model.graphs.captures == 3 and len(model.graphs) == 2



@cuda
@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_tiled_inputs_run_in_stages_on_cuda(precision):
    """A tiled VQ-model input on CUDA (three stages, half weights under fp16): the same image with
    and without the graphs option (tiled inputs run eagerly), every network on tiles, and close to
    the CPU's float32 result."""
    from tests.helpers import tiny_model
    cpu = tiny_model("sr")
    gpu = tiny_model("sr").to("cuda")
    y = _input(64, seed=3)
    options = RestoreOptions(seed=4, precision=precision, tile=32, tile_overlap=8)
    ref, _, _, tiles = run_model(cpu, y, RestoreOptions(seed=4, precision="fp32", tile=32, tile_overlap=8))
    out, _, _, gpu_tiles = run_model(gpu, y.cuda(), options)
    again, *_ = run_model(gpu, y.cuda(), RestoreOptions(seed=4, precision=precision, tile=32, tile_overlap=8,
                                                        cuda_graphs=True))
    assert tiles == gpu_tiles == 9 and len(gpu.graphs) == 0
    assert torch.equal(out, again)
    # (on CPU: bf16 42.6 dB from fp32, another seed 30.1 dB; fp16 and TF32 keep more bits than bf16)
    assert psnr(out.cpu(), ref, clamp=False) > 36
