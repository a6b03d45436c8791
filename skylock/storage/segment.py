"""WAL segment files: naming, listing, creating and appending.

A segment is named ``<seq>-<first index>.wal`` (16 decimal digits each): ``seq`` counts
up by one per segment, so a missing file shows as a gap; ``first index`` is the index
the log expected next when the segment was started, so the segment can be checked
against the one before it. A new segment is written whole (its header records) to a
temp file, fsynced and renamed, so a crash never leaves a half-created segment.
"""

from __future__ import annotations

import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from skylock.storage.files import fsync_dir, write_atomic

log = logging.getLogger("skylock.storage")

_NAME = re.compile(r"^(\d{16})-(\d{16})\.wal$")


@dataclass(slots=True)
class SegmentInfo:
    seq: int
    first_index: int
    path: Path
    #: highest entry index written in this segment (0 when it holds no entries)
    max_index: int = 0


def segment_name(seq: int, first_index: int) -> str:
    return f"{seq:016d}-{first_index:016d}.wal"


def list_segments(directory: Path) -> list[SegmentInfo]:
    """Segment files in ``directory``, in sequence order."""
    found = []
    for p in directory.iterdir():
        m = _NAME.match(p.name)
        if m:
            found.append(SegmentInfo(int(m.group(1)), int(m.group(2)), p))
    found.sort(key=lambda s: s.seq)
    return found


def create_segment(directory: Path, seq: int, first_index: int, header: bytes, fsync: bool) -> SegmentInfo:
    """Create a segment holding ``header`` durably (file and directory fsynced)."""
    path = directory / segment_name(seq, first_index)
    write_atomic(path, header, fsync=fsync)
    log.info("created WAL segment %s", path.name)
    return SegmentInfo(seq, first_index, path)


class SegmentWriter:
    """Appends to one open segment; one write and (optionally) one fsync per batch."""

    def __init__(self, info: SegmentInfo, fsync: bool) -> None:
        self.info = info
        self._fsync = fsync
        self._fd = os.open(info.path, os.O_WRONLY | os.O_APPEND)
        self.size = os.fstat(self._fd).st_size

    def append(self, data: bytes, *, sync: bool = True) -> float | None:
        """Returns how long the fsync took in seconds (None: none was done), for the owner's metrics."""
        view = memoryview(data)
        while view:  # a regular-file write is normally whole; loop in case it is not
            view = view[os.write(self._fd, view):]
        took = None
        if self._fsync and sync:
            started = time.perf_counter()
            os.fdatasync(self._fd)
            took = time.perf_counter() - started
        self.size += len(data)
        return took

    def truncate(self, size: int) -> None:
        os.ftruncate(self._fd, size)
        if self._fsync:
            os.fsync(self._fd)
        self.size = size

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def delete_segment(info: SegmentInfo) -> None:
    info.path.unlink()
    log.info("deleted WAL segment %s (entries up to %d)", info.path.name, info.max_index)


def sync_dir(directory: Path, fsync: bool) -> None:
    if fsync:
        fsync_dir(directory)
