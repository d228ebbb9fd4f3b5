"""Face detection with five landmarks: the bundled YuNet model, or facexlib's RetinaFace.

A detector is any callable ``detector(image) -> list[DetectedFace]`` taking an (H, W, 3) uint8 RGB
photo. Landmarks always follow the order documented in :mod:`resshift.face.align` (left-of-image
eye, right-of-image eye, nose tip, left-of-image mouth corner, right-of-image mouth corner); both
YuNet ("right eye, left eye, ..." of the person) and RetinaFace already return them in that order.

Photos are detected on a resized copy (long side at most ``max_side``, at least ``min_side``) and
the results mapped back to the photo's pixels, so huge photos stay fast and tiny ones still work.

Backends: 'yunet' (OpenCV Zoo YuNet, bundled in ``assets/face/``, works offline), 'retinaface'
(facexlib's RetinaFace-ResNet50, the detector of GFPGAN/CodeFormer; its weights come through
:func:`resshift.weights.resolve_weight`), 'auto' (RetinaFace when its weights are already
on disk, else YuNet; it never waits on a download).
"""
from __future__ import annotations

import logging
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import cv2
import numpy as np
import torch

from ..settings import resolve_device
from ..weights import WeightFile, WeightsUnavailable, load_into, load_state_dict, resolve_weight

logger = logging.getLogger(__name__)

Backend = Literal["auto", "yunet", "retinaface"]
Select = Literal["all", "largest", "center"]

YUNET_WEIGHTS = WeightFile(
    filename="face_detection_yunet_2026may.onnx",
    bundled="face/face_detection_yunet_2026may.onnx",
    sha256="ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0",
    size=229_738,
)
# Pins: the Git LFS pointers of detection_Resnet50_Final.pth on Hugging Face (e.g. 24aittl/facestuff
# commit 3b2bdfe, salmonrk/facedetection) state both; the SHA-256 also names the file in HF's CDN.
RETINAFACE_WEIGHTS = WeightFile(
    filename="detection_Resnet50_Final.pth",
    url="https://github.com/xinntao/facexlib/releases/download/v0.1.0/detection_Resnet50_Final.pth",
    sha256="6d1de9c2944f2ccddca5f5e010ea5ae64a39845a86311af6fdf30841b0a5a16d",
    size=109_497_761,
)
DEFAULT_SCORE_THRESHOLD = 0.7
"""YuNet: 0.7 keeps blurred background faces (0.75-0.8) and drops most non-faces (0.5-0.7)."""
RETINAFACE_SCORE_THRESHOLD = 0.97  # what GFPGAN/CodeFormer use with RetinaFace


@dataclass(frozen=True, eq=False)
class DetectedFace:
    """One face in photo pixels. box: (4,) float32 x1, y1, x2, y2; landmarks: (5, 2) float32 x, y
    (order: module doc); score: detector confidence in [0, 1]."""

    box: np.ndarray
    landmarks: np.ndarray
    score: float

    @property
    def size(self) -> float:
        """The longer side of the box, in pixels (what ``min_face_size`` compares with)."""
        return float(max(self.box[2] - self.box[0], self.box[3] - self.box[1]))

    @property
    def center(self) -> tuple[float, float]:
        return float(self.box[0] + self.box[2]) / 2, float(self.box[1] + self.box[3]) / 2


FaceDetector = Callable[[np.ndarray], list[DetectedFace]]


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"a detector takes an (H, W, 3) uint8 RGB array, got "
                         f"{getattr(image, 'shape', type(image))} {getattr(image, 'dtype', '')}")


def _detection_scale(h: int, w: int, max_side: int, min_side: int) -> float:
    long_side = max(h, w)
    if long_side > max_side:
        return max_side / long_side
    if long_side < min_side:
        return min_side / long_side
    return 1.0


def _rescaled(image: np.ndarray, max_side: int, min_side: int) -> tuple[np.ndarray, float, float]:
    """image resized for detection, and the x, y factors (detection px per photo px)."""
    h, w = image.shape[:2]
    s = _detection_scale(h, w, max_side, min_side)
    if s == 1.0:
        return image, 1.0, 1.0
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    return cv2.resize(image, (nw, nh), interpolation=interp), nw / w, nh / h


def _to_faces(rows: np.ndarray, sx: float, sy: float) -> list[DetectedFace]:
    """rows: (N, 15) x1, y1, x2, y2, score, 5 x (x, y) in detection pixels -> faces in photo pixels,
    highest score first. Maps pixel centres (cv2.resize convention) back to the photo."""
    faces = []
    for row in rows:
        box = (row[0:4].reshape(2, 2) + 0.5) / (sx, sy) - 0.5
        points = (row[5:15].reshape(5, 2) + 0.5) / (sx, sy) - 0.5
        faces.append(DetectedFace(box.reshape(4).astype(np.float32), points.astype(np.float32),
                                  float(row[4])))
    faces.sort(key=lambda f: -f.score)
    return faces


class YuNetDetector:
    """OpenCV Zoo YuNet via ``cv2.FaceDetectorYN`` (offline, CPU). Thread-safe: each thread gets its
    own OpenCV detector, since ``setInputSize`` mutates it."""

    def __init__(self, model_path: str | Path | None = None, *,
                 score_threshold: float = DEFAULT_SCORE_THRESHOLD, nms_threshold: float = 0.3,
                 max_side: int = 1600, min_side: int = 320, top_k: int = 5000) -> None:
        self.model_path = Path(model_path) if model_path is not None else \
            resolve_weight(YUNET_WEIGHTS, allow_download=False)
        if not self.model_path.is_file():
            raise FileNotFoundError(f"YuNet model not found at {self.model_path}")
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.max_side, self.min_side, self.top_k = max_side, min_side, top_k
        self._local = threading.local()

    def _net(self, width: int, height: int) -> Any:
        net = getattr(self._local, "net", None)
        if net is None:
            # OpenCV 5 warns on every create that "targets are not supported by the new graph
            # engine" (YuNet's create sets the CPU target it runs on anyway): not news, not logged
            level = cv2.utils.logging.getLogLevel()
            cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
            try:
                net = cv2.FaceDetectorYN.create(str(self.model_path), "", (width, height),
                                                self.score_threshold, self.nms_threshold, self.top_k)
            finally:
                cv2.utils.logging.setLogLevel(level)
            self._local.net = net
        net.setInputSize((width, height))
        return net

    def __call__(self, image: np.ndarray) -> list[DetectedFace]:
        _check_image(image)
        small, sx, sy = _rescaled(image, self.max_side, self.min_side)
        h, w = small.shape[:2]
        if min(h, w) < 16:
            logger.info("image %dx%d is too thin to hold a face; no detection", w, h)
            return []
        _, found = self._net(w, h).detect(np.ascontiguousarray(small[..., ::-1]))  # YuNet takes BGR
        if found is None:
            return []
        # YuNet rows: x, y, w, h, 5 x (x, y), score -> x1, y1, x2, y2, score, landmarks.
        rows = np.concatenate([found[:, 0:2], found[:, 0:2] + found[:, 2:4], found[:, 14:15],
                               found[:, 4:14]], axis=1)
        return _to_faces(rows, sx, sy)


class RetinaFaceDetector:
    """facexlib's RetinaFace. ``net`` is a ``facexlib.detection.retinaface.RetinaFace`` (or any
    object with its ``detect_faces(bgr, conf_threshold) -> (N, 15)`` method); build one from a
    weight file with :meth:`from_weights`. Calls are serialised (the facexlib model keeps per-call
    state on itself)."""

    def __init__(self, net: Any, *, score_threshold: float = RETINAFACE_SCORE_THRESHOLD,
                 max_side: int = 1600, min_side: int = 320) -> None:
        self.net = net
        self.score_threshold = score_threshold
        self.max_side, self.min_side = max_side, min_side
        self._lock = threading.Lock()

    @classmethod
    def from_weights(cls, weights_path: str | Path, *, device: str | torch.device | None = None,
                     **kwargs: Any) -> "RetinaFaceDetector":
        """Build RetinaFace-ResNet50 and load ``detection_Resnet50_Final.pth`` (device: default
        RESSHIFT_DEVICE, else cuda when available, else cpu). Raises :class:`~resshift.weights.UnsafeWeightsError` /
        :class:`~resshift.weights.WeightsLoadError` (naming the file) for a file that is not a safe,
        readable RetinaFace-ResNet50 checkpoint."""
        from facexlib.detection.retinaface import RetinaFace

        device = resolve_device(device)
        state = load_state_dict(weights_path)  # module. prefixes stripped
        with warnings.catch_warnings():  # facexlib builds its backbone with torchvision's old
            # `pretrained=False` arguments, which torchvision warns about on every build (no download happens)
            warnings.filterwarnings("ignore", message=r"(The parameter 'pretrained'|Arguments other than a weight enum)",
                                    category=UserWarning, module=r"torchvision\.models\._utils")
            net = RetinaFace(network_name="resnet50", half=False, device=device)
        load_into(net, state, strict_extra=True, name="RetinaFace-ResNet50", source=weights_path)
        net.eval()
        return cls(net.to(device), **kwargs)

    def __call__(self, image: np.ndarray) -> list[DetectedFace]:
        _check_image(image)
        small, sx, sy = _rescaled(image, self.max_side, self.min_side)
        bgr = np.ascontiguousarray(small[..., ::-1])
        with self._lock, torch.no_grad():
            rows = np.asarray(self.net.detect_faces(bgr, self.score_threshold), dtype=np.float64)
        if rows.size == 0:
            return []
        return _to_faces(rows.reshape(-1, 15), sx, sy)


def load_detector(backend: Backend = "auto", *, device: str | torch.device | None = None,
                  allow_download: bool = True, **kwargs: Any) -> FaceDetector:
    """Make a face detector.

    backend: 'yunet', 'retinaface' (downloads its weights if needed and ``allow_download``; raises
    :class:`~resshift.weights.WeightsUnavailable` when it cannot) or 'auto': RetinaFace, the
    detector GFPGAN and CodeFormer use, when its weights are on disk or can be downloaded (and
    cached) now, else the bundled YuNet, so detection works offline.
    kwargs go to the detector (score_threshold, max_side, min_side, ...).
    """
    if backend not in ("auto", "yunet", "retinaface"):
        raise ValueError(f"backend must be 'auto', 'yunet' or 'retinaface', got {backend!r}")
    if backend == "yunet":
        return YuNetDetector(**kwargs)
    if backend == "retinaface":
        path = resolve_weight(RETINAFACE_WEIGHTS, allow_download=allow_download)
        return RetinaFaceDetector.from_weights(path, device=device, **kwargs)
    try:
        path = resolve_weight(RETINAFACE_WEIGHTS, allow_download=allow_download)
    except WeightsUnavailable as err:
        logger.info("RetinaFace weights unavailable (%s); using the bundled YuNet", err.reason)
        return YuNetDetector(**kwargs)
    try:
        import facexlib.detection.retinaface  # noqa: F401
    except ImportError as err:
        logger.warning("RetinaFace weights found at %s but facexlib cannot be imported (%s); "
                       "using the bundled YuNet", path, err)
        return YuNetDetector(**kwargs)
    return RetinaFaceDetector.from_weights(path, device=device, **kwargs)


def detect_faces(image: np.ndarray, *, backend: Backend = "auto",
                 device: str | torch.device | None = None, **kwargs: Any) -> list[DetectedFace]:
    """Detect faces in an (H, W, 3) uint8 RGB photo; highest score first. One-off convenience for
    ``load_detector(backend, ...)(image)``; keep the detector to detect many photos."""
    return load_detector(backend, device=device, **kwargs)(image)


def select_faces(faces: Sequence[DetectedFace], image_size: tuple[int, int], *,
                 select: Select = "all", min_face_size: float = 0) -> list[DetectedFace]:
    """Keep faces whose box's longer side is at least ``min_face_size`` pixels, then all of them,
    the largest box, or the one whose box centre is nearest the photo centre.

    image_size: (height, width) of the photo.
    """
    if select not in ("all", "largest", "center"):
        raise ValueError(f"select must be 'all', 'largest' or 'center', got {select!r}")
    kept = [f for f in faces if f.size >= min_face_size]
    if select == "all" or not kept:
        return kept
    if select == "largest":
        return [max(kept, key=lambda f: float((f.box[2] - f.box[0]) * (f.box[3] - f.box[1])))]
    cy, cx = (image_size[0] - 1) / 2, (image_size[1] - 1) / 2
    return [min(kept, key=lambda f: (f.center[0] - cx) ** 2 + (f.center[1] - cy) ** 2)]
