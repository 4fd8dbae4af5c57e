"""Atomic file writes: a killed job never leaves a file that looks complete, and two writers never collide."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    # os.umask can only be read by setting it; restore it at once (jobs are single-threaded here)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a fresh temporary path beside ``path`` to write to; on success move it into place.

    The temporary name is unique per writer (two runs writing one results folder do not trip over each other's
    files) and the file gets the permissions of an ordinary new file under the user's umask: ``mkstemp``
    creates it 0600, which would hide results from the group on a shared cluster.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
