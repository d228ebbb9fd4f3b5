"""Write a file under a temporary name beside its target and rename it when complete.

A reader (or a rerun that skips finished outputs) never sees a half-written file under the final
name, and a failure leaves nothing behind: the temporary file is removed and the exception goes on.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


def _umask() -> int:
    mask = os.umask(0o022)  # read it (os.umask sets and returns), then put it back
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give a new file (mkstemp gives 0o600)


class AtomicTarget:
    """A fresh temporary file ``path`` in ``target``'s folder (hidden: ``.<name>.*.part``), to be
    written and then either renamed onto ``target`` (:meth:`commit`, replacing a file there) or
    deleted (:meth:`discard`). The folder must exist."""

    def __init__(self, target: str | os.PathLike):
        self.target = Path(target)
        fd, tmp_name = tempfile.mkstemp(dir=self.target.parent, prefix=f".{self.target.name}.",
                                        suffix=".part")
        os.close(fd)
        self.path = Path(tmp_name)
        os.chmod(self.path, _FILE_MODE)

    def commit(self) -> None:
        os.replace(self.path, self.target)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_target(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; renamed onto it when the block ends normally,
    deleted when it raises."""
    tmp = AtomicTarget(target)
    try:
        yield tmp.path
        tmp.commit()
    finally:
        tmp.discard()  # nothing left after a commit; the partial file after a failure
