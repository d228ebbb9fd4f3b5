"""The errors raised for media a person brought (videos, zips of images).

Every message is a sentence that can be shown to that person as it is. One base class (an
:class:`~resshift.errors.InvalidRequest`, like a bad image), so that a caller catches a refused input
once, whichever kind it was.
"""
from __future__ import annotations

from ..errors import InvalidRequest


class InvalidMediaError(InvalidRequest):
    """A video or archive that cannot be used: damaged, of the wrong kind, or over a limit."""


class InvalidVideoError(InvalidMediaError):
    """A video that is refused: no video stream, an undecodable codec, too long, frames too large or
    too small, damaged or truncated."""


class InvalidArchiveError(InvalidMediaError):
    """A zip archive that is refused as a whole: not a zip, damaged, too many files, too large once
    extracted, or compressed suspiciously well (a zip bomb)."""
