"""WAL segment files: naming, listing, creating and appending.

A segment is named ``<seq>-<first index>.wal`` (16 decimal digits each): ``seq`` counts
up by one per segment, so a missing file shows as a gap; ``first index`` is the index
the log expected next when the segment was started, so the segment can be checked
against the one before it. A new segment is written whole (its header records) to a
temp file, fsynced and renamed, so a crash never leaves a half-created segment.

Appends overwrite zeros written ahead of them (``PREALLOCATE`` bytes at a time, never past
the segment size): an append that grew the file would make every fdatasync also commit
the file's new size and blocks through the file system's journal, which costs about a
third more per sync with three nodes syncing at once (bench/RESULTS.md). So a segment
ends in zeros, which recovery reads as the end of its records (``records.scan``).
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


#: zeros written ahead of the records at a time (see the module's docstring)
PREALLOCATE = 1 << 20


class SegmentWriter:
    """Appends to one open segment; one write and (optionally) one fsync per batch.

    ``size`` is where its records end (what recovery found; by default the file's size),
    ``limit`` the segment size, which the zeros written ahead never pass."""

    def __init__(self, info: SegmentInfo, fsync: bool, *, size: int | None = None, limit: int = 0) -> None:
        self.info = info
        self._fsync = fsync
        self._limit = limit
        self._fd = os.open(info.path, os.O_WRONLY)
        #: the file's size: records up to ``size``, zeros after
        self._allocated = os.fstat(self._fd).st_size
        self.size = self._allocated if size is None else size

    def append(self, data: bytes, *, sync: bool = True) -> float | None:
        """Returns how long the fsync took in seconds (None: none was done), for the owner's metrics."""
        end = self.size + len(data)
        if end > self._allocated:
            self._preallocate(end)
        view, at = memoryview(data), self.size
        while view:  # a regular-file write is normally whole; loop in case it is not
            written = os.pwrite(self._fd, view, at)
            view, at = view[written:], at + written
        took = None
        if self._fsync and sync:
            started = time.perf_counter()
            os.fdatasync(self._fd)
            took = time.perf_counter() - started
        self.size += len(data)
        return took

    @property
    def file_size(self) -> int:
        """The file's size: its records, then the zeros written ahead of them."""
        return self._allocated

    def _preallocate(self, end: int) -> None:
        """Zeros after ``end`` (the records about to be written fill up to it); durable with
        the next fdatasync, which pays for the file's growth once for many appends."""
        ahead = min(PREALLOCATE, self._limit - end) if self._limit else PREALLOCATE
        if ahead > 0:
            os.pwrite(self._fd, bytes(ahead), end)
        self._allocated = end + max(ahead, 0)

    def truncate(self, size: int) -> None:
        os.ftruncate(self._fd, size)
        if self._fsync:
            os.fsync(self._fd)
        self.size = self._allocated = size

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
