"""The face tab's 'ResShift vs GFPGAN v1.4' comparison (random GFPGAN weights: the real file is
not downloadable here, the network and the plumbing are what is tested)."""
import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from resshift.runtime.compat import install_torchvision_compat
from resshift.manager import ModelManager
from studio.handlers import Studio
from studio.limits import Limits
from tests.helpers import tiny_model
from tests.test_app_handlers import EXAMPLES


def _manager(weights_dir=None) -> ModelManager:
    m = ModelManager([], device="cpu", weights_dir=weights_dir, allow_download=False)
    m.put(tiny_model("face"))
    return m


@pytest.mark.slow
def test_compare_with_gfpgan_runs_both(tmp_path):
    install_torchvision_compat()
    from gfpgan.archs.gfpganv1_clean_arch import GFPGANv1Clean

    torch.manual_seed(0)  # throwaway random network for the test
    net = GFPGANv1Clean(out_size=512, num_style_feat=512, channel_multiplier=2, decoder_load_path=None,
                        fix_decoder=False, num_mlp=8, input_is_latent=True, different_w=True, narrow=1,
                        sft_half=True)
    weights = tmp_path / "weights"
    weights.mkdir()
    torch.save({"params_ema": net.state_dict()}, weights / "GFPGANv1.4.pth")
    studio = Studio(_manager(weights), Limits.defaults("cpu"), files_root=tmp_path / "out")
    face = str(EXAMPLES / "face" / "celebahq_00234_lq.jpg")
    gallery, (left, right), caption, state, table, download = studio.compare_face(
        face, "aligned", "tiny-face", 1, 2.0, 5, vary="gfpgan")
    assert [lab.split(" · ")[0] for _, lab in gallery] == ["ResShift (tiny-face)", "GFPGAN v1.4"]
    assert [row["model"] for row in table] == ["tiny-face", "GFPGAN v1.4"]
    a, b = (np.asarray(Image.open(p)) for p, _ in gallery)
    assert a.shape == b.shape == (512, 512, 3) and not np.array_equal(a, b)
    assert [s["label"] for s in state][0] == "input"


def test_compare_with_gfpgan_offline_without_weights_says_so(tmp_path):
    studio = Studio(_manager(tmp_path / "empty"), Limits.defaults("cpu"), files_root=tmp_path / "out")
    with pytest.raises(gr.Error) as err:
        studio.compare_face(str(EXAMPLES / "face" / "celebahq_00234_lq.jpg"), "aligned", "tiny-face", 1, 2.0, 5,
                            vary="gfpgan")
    assert "GFPGANv1.4.pth" in str(err.value.message) and "Compare steps or kappa instead" in str(err.value.message)
    assert "Pick a model" not in str(err.value.message)  # GFPGAN is in no model list
