"""Face restoration on whole photos: detect faces with five landmarks, align each to the FFHQ
512x512 crop, restore the crops with any ``restore_faces`` callable, paste them back feathered.

    detect.py  DetectedFace, YuNet (bundled, offline) and RetinaFace (optional) detectors
    align.py   landmark order, FFHQ five-point template, similarity alignment
    paste.py   inverse warp at the output scale, feathered mask, float compositing
    photo.py   restore_photo / restore_aligned, the pipeline
    gfpgan.py  GFPGAN v1.4 as a restore_faces callable (optional, for comparison)

The pipeline never imports the diffusion model; the caller passes it in as a callable.
"""
from .align import CROP_SIZE, FFHQ_TEMPLATE_512, align_face, check_aligned_size, estimate_alignment, is_aligned_size
from .detect import (DetectedFace, FaceDetector, RetinaFaceDetector, YuNetDetector, detect_faces,
                     load_detector, select_faces)
from .gfpgan import GFPGAN_WEIGHTS, gfpgan_restorer
from .paste import paste_face
from .photo import NO_FACE_MESSAGE, PhotoComposite, PhotoFace, looks_aligned, restore_aligned, restore_photo

__all__ = [
    "CROP_SIZE", "FFHQ_TEMPLATE_512", "align_face", "check_aligned_size", "estimate_alignment", "is_aligned_size",
    "DetectedFace", "FaceDetector", "RetinaFaceDetector", "YuNetDetector", "detect_faces",
    "load_detector", "select_faces", "paste_face", "GFPGAN_WEIGHTS", "gfpgan_restorer",
    "NO_FACE_MESSAGE", "PhotoComposite", "PhotoFace", "looks_aligned",
    "restore_aligned", "restore_photo",
]
