"""Media I/O at the library's edge: videos (PyAV) and zip archives of images.

``probe`` / ``read_frames`` / ``read_batches`` read videos and refuse bad ones; ``VideoWriter`` writes
H.264 MP4 keeping frame rate, audio and rotation; ``read_zip`` / ``write_zip`` read a zip of images
safely and write a zip of results. Every refusal is an :class:`InvalidMediaError` (a ValueError)
whose message can be shown to a person as it is.
"""
from .archive import ArchiveEntry, SkippedEntry, ZipContents, read_zip, write_zip
from .errors import InvalidArchiveError, InvalidMediaError, InvalidVideoError
from .video import VideoInfo, probe, read_batches, read_frames
from .video_writer import VideoWriter

__all__ = [
    "ArchiveEntry", "InvalidArchiveError", "InvalidMediaError", "InvalidVideoError", "SkippedEntry",
    "VideoInfo", "VideoWriter", "ZipContents", "probe", "read_batches", "read_frames", "read_zip",
    "write_zip",
]
