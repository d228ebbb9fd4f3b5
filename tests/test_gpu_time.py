"""ZeroGPU: a request asks the GPU for time in proportion to its estimated work (a small one for
little, so that it is served sooner), and a refusal for quota reaches the page as a sentence."""
import gradio as gr
import numpy as np
import pytest

from resshift.manager import ModelManager
from resshift.pipelines import DecodedImage, PhotoOptions, RestoreOptions
from studio.handlers import Studio
from studio.jobs import Job
from studio.limits import Limits
from studio.work import GPU_SECONDS_MAX, GPU_SECONDS_MIN, gpu_seconds


@pytest.fixture(scope="module")
def manager():
    return ModelManager(device="cpu", allow_download=False)  # the real catalogue: its models' costs


def _job(manager, model: str, side: int, task: str = "sr", **kw) -> Job:
    image = DecodedImage(np.zeros((side, side, 3), np.float32), None)
    return Job(task, model, image, RestoreOptions(steps=4).resolve(manager.spec(model)), **kw)


def test_the_duration_follows_the_work(manager):
    small = gpu_seconds(manager, [_job(manager, "realsr-v3", 64)])
    large = gpu_seconds(manager, [_job(manager, "realsr-v3", 1024)])
    compared = gpu_seconds(manager, [_job(manager, "realsr-v3", 1024)] * 4)
    assert small == GPU_SECONDS_MIN < large < compared <= GPU_SECONDS_MAX
    assert gpu_seconds(manager, [_job(manager, "lite-sr", 256)]) == GPU_SECONDS_MIN
    photo = _job(manager, "faceir", 1536, task="face", photo=PhotoOptions(scale=2, background="sr"),
                 sr_model="realsr-v3")
    assert GPU_SECONDS_MIN < gpu_seconds(manager, [photo]) <= GPU_SECONDS_MAX


@pytest.mark.parametrize("title, message, words", [
    ("ZeroGPU quota exceeded", "You have exceeded your free ZeroGPU quota (20s requested vs. 5s left). "
     "Try again in 0:04:10. ", "No GPU time is left for you on this Space for now (this request asked for 20 s): "
     "You have exceeded your free ZeroGPU quota (20s requested vs. 5s left). Try again in 0:04:10. A smaller"),
    ("ZeroGPU illegal duration", "The requested GPU duration (300s) is larger than the maximum allowed",
     "would need the GPU for about 20 s, more than this Space gives one request"),
])
def test_a_quota_refusal_is_a_sentence(manager, tmp_path, monkeypatch, title, message, words):
    studio = Studio(manager, Limits.defaults("cpu"), files_root=tmp_path)

    def refused(jobs, progress=None):
        raise gr.Error(message, title=title)

    monkeypatch.setattr(studio, "run_jobs", refused)
    with pytest.raises(gr.Error) as err:
        studio.run([_job(manager, "lite-sr", 32)])
    assert err.value.title == "GPU quota" and words in err.value.message and err.value.message.endswith(".")
