"""Small durable-file helpers shared by the WAL and the snapshot store.

A rename is only durable once the directory holding it is fsynced, and a file's
contents only once the file is; these helpers keep that order in one place.

Everything under a node's data directory is private to its user (directories
0700, files 0600): the WAL carries every session's id, which is all a client
needs to act as that session, and every write ever made.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("skylock.storage")

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> None:
    """Create ``path`` as 0700, or tighten it and everything below it to 0700/0600.

    An existing directory from an older version or a careless copy may be readable by
    every local user; each loosened mode is fixed and logged. Symlinks are left alone.
    """
    if not path.is_dir():
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _tighten(path, DIR_MODE)
    for child in path.iterdir():
        mode = child.lstat().st_mode
        if stat.S_ISDIR(mode):
            private_dir(child)
        elif stat.S_ISREG(mode):
            _tighten(child, FILE_MODE)


def _tighten(path: Path, mode: int) -> None:
    current = stat.S_IMODE(path.lstat().st_mode)
    if current & ~mode:
        os.chmod(path, mode)
        log.warning("tightened permissions of %s from %04o to %04o: node data is private to its user",
                    path, current, mode)


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
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(fd, FILE_MODE)  # a leftover temp file keeps its old mode through O_TRUNC
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
