"""One request in, one result out: RestoreRequest is checked once (InvalidRequest with a sentence)
and execute() runs any task, a video, or GFPGAN's faces, on a manager's models."""
import numpy as np
import pytest

from resshift.errors import InvalidRequest
from resshift.pipelines import InvalidMaskError, PhotoOptions, RestoreOptions
from resshift.pipelines.registry import TASK_REGISTRY, task_of
from resshift.pipelines.request import RestoreRequest, VideoTarget, execute

from tests.helpers import tiny_manager

IMAGE = np.full((24, 32, 3), 120, np.uint8)


@pytest.fixture(scope="module")
def manager():
    return tiny_manager("sr", "inpaint")


def test_every_registered_task_is_one_declaration():
    assert list(TASK_REGISTRY) == ["sr", "inpaint", "face"]
    assert [t.mask for t in TASK_REGISTRY.values()] == [False, True, False]
    assert [t.photo for t in TASK_REGISTRY.values()] == [False, False, True]
    with pytest.raises(InvalidRequest, match="task must be one of sr, inpaint, face; got 'deblur'"):
        task_of("deblur")


@pytest.mark.parametrize("kwargs, sentence", [
    (dict(task="deblur"), "task must be one of sr, inpaint, face"),
    (dict(restorer="gfpgan"), "GFPGAN restores faces"),
    (dict(restorer="codeformer"), "restorer must be one of resshift, gfpgan"),
    (dict(video=VideoTarget("in.mp4", "out.mp4")), "an image or a video: give one of them"),
    (dict(image=None), "an image or a video: give one of them"),
])
def test_a_request_is_checked_when_it_is_made(kwargs, sentence):
    fields = dict(task="sr", model="tiny-sr", image=IMAGE) | kwargs
    with pytest.raises(InvalidRequest, match=sentence):
        RestoreRequest(**fields)


def test_execute_runs_each_task_through_its_pipeline(manager):
    sr = execute(manager, RestoreRequest("sr", "tiny-sr", IMAGE, RestoreOptions(seed=1)))
    assert sr.image.shape == (96, 128, 3) and sr.model == "tiny-sr" and sr.seed == 1
    mask = np.zeros((24, 32), bool)
    mask[4:12, 8:20] = True
    filled = execute(manager, RestoreRequest("inpaint", "tiny-inpaint", IMAGE, RestoreOptions(seed=1), mask=mask))
    assert (filled.image[~mask] == IMAGE[~mask]).all()  # known pixels come back exactly


def test_the_model_and_the_inputs_are_checked_against_the_task(manager):
    with pytest.raises(InvalidRequest, match="the model tiny-sr is a super-resolution model; choose an inpainting"):
        execute(manager, RestoreRequest("inpaint", "tiny-sr", IMAGE, mask=np.ones((24, 32), bool)))
    with pytest.raises(InvalidMaskError, match="inpainting needs a mask"):
        execute(manager, RestoreRequest("inpaint", "tiny-inpaint", IMAGE))
    with pytest.raises(InvalidRequest, match="a mask is for inpainting"):
        execute(manager, RestoreRequest("sr", "tiny-sr", IMAGE, mask=np.ones((24, 32), bool)))
    with pytest.raises(InvalidRequest, match="whole-photo settings are for face restoration"):
        execute(manager, RestoreRequest("sr", "tiny-sr", IMAGE, photo=PhotoOptions()))
    with pytest.raises(InvalidRequest, match="between 1 and"):
        execute(manager, RestoreRequest("sr", "tiny-sr", IMAGE, RestoreOptions(steps=99)))


def test_max_pixels_is_the_requests(manager):
    with pytest.raises(InvalidRequest):
        execute(manager, RestoreRequest("sr", "tiny-sr", IMAGE, max_pixels=100))
