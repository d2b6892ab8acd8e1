"""Write a file so that no reader ever sees half of it: a temporary name beside it, then one rename.

Every writer of final outputs (datasets, model files, checkpoints) goes through `atomic_output`, so
a run killed mid-write leaves at most a hidden temporary file, never a partial file under a final
name.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TEMP_PREFIX = ".partial-"


def _default_file_mode() -> int:
    """rw for everyone the umask allows (what `open()` would give); mkstemp's files are 0600."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_output(destination: str | Path, *, prefix: str = TEMP_PREFIX) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; on success rename it to ``destination``.

    The temporary file exists (empty) when yielded and lives in the destination's folder, so the
    final ``os.replace`` is a rename on one file system. On any error it is removed and the error
    raised; ``destination`` is untouched. The published file gets the usual permissions (umask).
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        prefix=prefix, suffix=destination.suffix, dir=destination.parent
    )
    os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, _default_file_mode())
        os.replace(temporary, destination)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


@contextmanager
def atomic_fs_output(fs: Any, destination: str, *, prefix: str = TEMP_PREFIX) -> Iterator[str]:
    """``atomic_output`` on an fsspec file system (object stores, shared remote storage).

    Yields a temporary path beside ``destination`` (nothing is created there yet); on success it is
    moved to ``destination`` with ``fs.mv``. On object stores a move is a copy then a delete: the
    final name still appears only once the file is complete. On any error the temporary file is
    removed.

    Args:
        fs: an ``fsspec.AbstractFileSystem``.
        destination: the final path on ``fs`` (without protocol), ``/``-separated.
    """
    parent, _, name = destination.rpartition("/")
    suffix = name[name.rfind(".") :] if "." in name else ""
    temporary = (
        f"{parent}/{prefix}{uuid.uuid4().hex}{suffix}"
        if parent
        else f"{prefix}{uuid.uuid4().hex}{suffix}"
    )
    try:
        yield temporary
        fs.mv(temporary, destination)
    finally:
        if fs.exists(temporary):
            fs.rm(temporary)
