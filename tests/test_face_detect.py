"""Face detection: the bundled YuNet on real photos, rescaling, the RetinaFace wrapper and fallback."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from resshift.face import DetectedFace, RetinaFaceDetector, YuNetDetector, load_detector, select_faces
from resshift.face.detect import RETINAFACE_WEIGHTS
from resshift.weights import WeightsUnavailable

from tests.helpers import face_photo

DATA = Path(__file__).parent / "data" / "faces"


@pytest.fixture(scope="module")
def yunet() -> YuNetDetector:
    return YuNetDetector()


@pytest.fixture
def no_downloaded_weights(tmp_path, monkeypatch):
    """Empty weights folder and cache: only bundled files exist."""
    monkeypatch.setenv("RESSHIFT_WEIGHTS_DIR", str(tmp_path / "weights"))
    monkeypatch.setenv("RESSHIFT_CACHE_DIR", str(tmp_path / "cache"))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return w * h / (area(a) + area(b) - w * h)


@pytest.mark.parametrize("name, low, high", [
    ("portrait_deepface_img12.jpg", 1, 1),
    ("group6_group_18.jpg", 5, 7),  # 6 people, all found at the default threshold
    ("group5_group_19.jpg", 4, 6),  # 5 people
])
def test_yunet_finds_the_faces_of_real_photos(yunet, name, low, high):
    faces = yunet(face_photo(name))
    assert low <= len(faces) <= high
    scores = [f.score for f in faces]
    assert scores == sorted(scores, reverse=True) and min(scores) >= 0.7


def test_landmarks_follow_the_documented_order(yunet):
    faces = yunet(face_photo("group6_group_18.jpg")) + yunet(face_photo("portrait_deepface_img12.jpg"))
    for f in faces:
        p, box = f.landmarks, f.box
        assert p.shape == (5, 2) and box.shape == (4,)
        assert p[0, 0] < p[2, 0] < p[1, 0]  # left-of-image eye, nose, right-of-image eye
        assert p[3, 0] < p[4, 0]  # mouth corners
        assert max(p[0, 1], p[1, 1]) < p[2, 1] < min(p[3, 1], p[4, 1])  # eyes, nose, mouth downwards
        assert (box[0] <= p[:, 0]).all() and (p[:, 0] <= box[2]).all()
        assert (box[1] <= p[:, 1]).all() and (p[:, 1] <= box[3]).all()


def test_huge_photo_is_detected_on_a_small_copy_and_mapped_back(yunet):
    image = face_photo("portrait_deepface_img12.jpg")  # 560x415
    (face,) = yunet(image)
    big = np.repeat(np.repeat(image, 4, axis=0), 4, axis=1)  # 2240x1660; area-shrinks back exactly
    (big_face,) = YuNetDetector(max_side=560)(big)
    # Same detection, in the big photo's pixels (pixel centres: x_big = 4 * (x + 0.5) - 0.5).
    np.testing.assert_allclose(big_face.landmarks, (face.landmarks + 0.5) * 4 - 0.5, atol=1e-3)
    np.testing.assert_allclose(big_face.box, (face.box + 0.5) * 4 - 0.5, atol=1e-3)
    # Detected at a different size, the same face still lands in the same place.
    (other,) = YuNetDetector(max_side=900)(big)
    assert _iou(other.box, big_face.box) > 0.8


def test_tiny_photo_is_enlarged_for_detection(yunet):
    image = cv2.resize(face_photo("portrait_deepface_img12.jpg"), (112, 83), interpolation=cv2.INTER_AREA)
    (face,) = yunet(image)
    assert 20 < face.size < 60 and 0 <= face.box[0] and face.box[2] <= 112


def test_blank_and_degenerate_photos_have_no_face(yunet):
    assert yunet(np.full((300, 400, 3), 128, np.uint8)) == []
    assert yunet(np.full((2, 900, 3), 128, np.uint8)) == []  # too thin to hold a face


def test_detector_rejects_non_rgb_arrays(yunet):
    with pytest.raises(ValueError, match=r"\(H, W, 3\) uint8 RGB"):
        yunet(np.zeros((64, 64), np.uint8))


def test_auto_falls_back_to_yunet_without_retinaface_weights(no_downloaded_weights):
    detector = load_detector("auto", allow_download=False)
    assert isinstance(detector, YuNetDetector)
    assert len(detector(face_photo("group5_group_19.jpg"))) == 5


def test_auto_tries_to_download_retinaface_first(monkeypatch):
    """RetinaFace is the primary detector: 'auto' fetches its weights when allowed, and falls back
    to the bundled YuNet when that fails (offline)."""
    import resshift.face.detect as detect

    asked = []
    real = detect.resolve_weight

    def unavailable(file, **kw):
        if file is not RETINAFACE_WEIGHTS:
            return real(file, **kw)
        asked.append((file.filename, kw.get("allow_download")))
        raise WeightsUnavailable(file, "could not connect (offline?)", weights_dir=None, cache_dir=Path("/nowhere"))

    monkeypatch.setattr(detect, "resolve_weight", unavailable)
    assert isinstance(load_detector("auto"), YuNetDetector)
    assert asked == [("detection_Resnet50_Final.pth", True)]


def test_retinaface_without_weights_and_downloads_raises_clearly(no_downloaded_weights):
    with pytest.raises(WeightsUnavailable, match="detection_Resnet50_Final.pth") as info:
        load_detector("retinaface", allow_download=False)
    assert info.value.url == RETINAFACE_WEIGHTS.url
    assert RETINAFACE_WEIGHTS.url.startswith("https://github.com/xinntao/facexlib/releases/")


def test_unknown_backend_is_rejected():
    with pytest.raises(ValueError, match="backend must be"):
        load_detector("haar")


class _FakeRetinaFace:
    """Stands in for facexlib's network: records its input, returns one face in its own pixels."""

    def __init__(self):
        self.calls = []

    def detect_faces(self, image, conf_threshold):
        self.calls.append((image.shape, image[0, 0].tolist(), conf_threshold))
        # x1, y1, x2, y2, score, 5 landmarks (facexlib's row layout)
        return np.array([[100, 50, 200, 170, 0.99, 130, 100, 170, 100, 150, 125, 135, 150, 165, 150]],
                        dtype=np.float32)


def test_retinaface_wrapper_converts_facexlib_rows():
    net = _FakeRetinaFace()
    image = np.zeros((1600, 3200, 3), np.uint8)
    image[..., 0] = 255  # red in RGB
    (face,) = RetinaFaceDetector(net, score_threshold=0.9, max_side=1600)(image)
    shape, first_pixel, threshold = net.calls[0]
    assert shape == (800, 1600, 3) and first_pixel == [0, 0, 255] and threshold == 0.9  # BGR, halved
    np.testing.assert_allclose(face.box, [200.5, 100.5, 400.5, 340.5])  # pixel centres mapped back
    np.testing.assert_allclose(face.landmarks[0], [260.5, 200.5])
    np.testing.assert_allclose(face.landmarks[4], [330.5, 300.5])
    assert face.score == pytest.approx(0.99)


def _face(x: float, y: float, size: float) -> DetectedFace:
    box = np.array([x, y, x + size, y + size], np.float32)
    return DetectedFace(box, np.zeros((5, 2), np.float32), 0.9)


def test_select_faces_by_size_largest_and_centre():
    faces = [_face(0, 0, 40), _face(450, 280, 30), _face(800, 500, 120)]
    image_size = (600, 1000)  # height, width
    assert select_faces(faces, image_size, min_face_size=35) == [faces[0], faces[2]]
    assert select_faces(faces, image_size, select="largest") == [faces[2]]
    assert select_faces(faces, image_size, select="center") == [faces[1]]
    assert select_faces(faces, image_size, select="center", min_face_size=35) == [faces[2]]
    assert select_faces(faces, image_size, select="largest", min_face_size=500) == []
    with pytest.raises(ValueError, match="select must be"):
        select_faces(faces, image_size, select="biggest")
