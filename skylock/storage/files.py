"""Small durable-file helpers shared by the WAL and the snapshot store.

A rename is only durable once the directory holding it is fsynced, and a file's
contents only once the file is; these helpers keep that order in one place.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make creations, renames and deletions inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, fsync: bool = True) -> None:
    """Write ``data`` to ``path`` so that after a crash it is either absent or whole.

    Temp file in the same directory, fsync, rename over the final name, fsync the directory.
    """
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    if fsync:
        fsync_dir(path.parent)


def remove_temp_files(directory: Path) -> None:
    """Delete ``*.tmp`` leftovers of a write_atomic interrupted by a crash."""
    for p in directory.glob("*.tmp"):
        p.unlink(missing_ok=True)
