"""The write-ahead log: Raft's hard state, entries and snapshot marks, durable before
anything that depends on them leaves the node.

Writes are group commits: every ``save()`` is one record, one ``os.write`` and one
fsync, however many entries it carries. Recovery replays the segments in order,
truncates a torn tail of the last segment (the one write a crash can interrupt) and
refuses to start on any other damage rather than silently lose acknowledged entries.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from skylock.raft.types import Entry, HardState, SnapshotMeta
from skylock.storage import records
from skylock.storage.errors import CorruptLogError
from skylock.storage.files import FILE_MODE, private_dir, remove_temp_files
from skylock.storage.recovery import LogBuilder, Recovered
from skylock.storage.segment import (
    SegmentInfo,
    SegmentWriter,
    create_segment,
    delete_segment,
    list_segments,
    sync_dir,
)

log = logging.getLogger("skylock.storage")


class WAL:
    """An open write-ahead log directory. Not thread-safe: one owner (the RaftNode actor)."""

    def __init__(self, directory: Path, segment_size: int, fsync: bool, lock_fd: int,
                 segments: list[SegmentInfo], builder: LogBuilder, records_end: int | None = None) -> None:
        """``records_end``: where the last segment's records end (recovery found it; the
        zeros after it are room for appends); None for a segment just created."""
        self._dir = directory
        self._segment_size = segment_size
        self._fsync = fsync
        self._lock_fd = lock_fd
        self._segments = segments
        self._log = builder
        self._writer = SegmentWriter(segments[-1], fsync, size=records_end, limit=segment_size)
        self._header_end = 0  # size of the current segment's header records, when we wrote them

    # ---- opening -------------------------------------------------------------

    @classmethod
    def open(cls, directory: Path | str, segment_size: int = 64 << 20,
             fsync: bool = True) -> tuple[WAL, Recovered]:
        """Open (creating if needed) the WAL in ``directory`` and recover its contents."""
        directory = Path(directory)
        created = not directory.is_dir()
        private_dir(directory)
        if created:
            sync_dir(directory.parent, fsync)
        lock_fd = _lock(directory)
        try:
            remove_temp_files(directory)
            segments = list_segments(directory)
            if not segments:
                builder = LogBuilder(1, keep_entries=True)
                segments = [create_segment(directory, 1, 1, _header(builder), fsync)]
                wal = cls(directory, segment_size, fsync, lock_fd, segments, builder)
                wal._header_end = wal._writer.size
                log.info("created WAL in %s", directory)
            else:
                builder, records_end, torn_at = _replay(segments)
                wal = cls(directory, segment_size, fsync, lock_fd, segments, builder, records_end)
                if torn_at is not None:
                    wal._truncate_torn_tail(torn_at)
        except BaseException:
            os.close(lock_fd)
            raise
        recovered = builder.result()
        builder.entries = None  # the writer only needs indexes and terms from here on
        log.info("opened WAL %s: %d segment(s), %d entries after index %d, hard state %s",
                 directory, len(segments), len(recovered.entries), builder.offset - 1,
                 recovered.hard_state)
        return wal, recovered

    def _truncate_torn_tail(self, torn: tuple[int, str]) -> None:
        offset, problem = torn
        cut = self._writer.file_size - offset
        log.warning("WAL torn tail in %s at offset %d (%s): truncating %d bytes",
                    self._writer.info.path, offset, problem, cut)
        self._writer.truncate(offset)
        if offset == 0:  # nothing left: restore the header so the segment stands alone
            self._writer.append(_header(self._log))
            self._header_end = self._writer.size

    # ---- writing -------------------------------------------------------------

    def save(self, hard_state: HardState | None, entries: Sequence[Entry], *, sync: bool = True) -> float | None:
        """Append ``entries`` (replacing any stored tail from their first index) and the
        hard state, durably: one write and one fsync for the whole batch. Returns the
        fsync's duration in seconds (None when none was done), for the caller's metrics.

        ``sync=False`` is for a hard state whose only change is the commit index, which
        Raft need not keep durable (it is learned again from the leader): written, not synced.
        """
        if not entries and hard_state is None:
            return None
        if entries:
            self._log.check_append(entries)  # refuse a gap before touching the disk
            data = records.encode_entries(hard_state, entries)
        else:
            data = records.encode_hard_state(hard_state)  # type: ignore[arg-type]
        took = self._write(data, sync=sync or bool(entries))
        if entries:
            self._log.append(entries, checked=True)
            info = self._writer.info
            info.max_index = max(info.max_index, entries[-1].index)
        if hard_state is not None:
            self._log.set_hard_state(hard_state)
        return took

    def save_snapshot_meta(self, meta: SnapshotMeta) -> None:
        """Record that a durable snapshot at ``meta.index`` exists (call after SnapshotStore.save)."""
        self._write(records.encode_snapshot_meta(meta))
        self._log.apply_snapshot_meta(meta)
        log.info("WAL recorded snapshot at index %d term %d", meta.index, meta.term)

    def _write(self, data: bytes, *, sync: bool = True) -> float | None:
        w = self._writer
        if w.size > self._header_end and w.size + len(data) > self._segment_size:
            self._rotate()
        return self._writer.append(data, sync=sync)

    def _rotate(self) -> None:
        """Start the next segment; its header repeats the hard state and snapshot meta so
        that older segments can later be deleted without losing them."""
        old = self._writer.info
        info = create_segment(self._dir, old.seq + 1, self._log.next_index, _header(self._log), self._fsync)
        self._writer.close()
        self._segments.append(info)
        self._writer = SegmentWriter(info, self._fsync, limit=self._segment_size)
        self._header_end = self._writer.size

    # ---- compaction ----------------------------------------------------------

    def release_before(self, index: int) -> None:
        """Delete the oldest segments whose every entry is <= ``index`` (a recorded
        snapshot must cover ``index``). Oldest first, so a crash never leaves a gap;
        the segment being written is never deleted."""
        snap = self._log.snapshot_meta
        if snap is None or index > snap.index:
            raise ValueError(f"release_before({index}): no recorded snapshot covers it "
                             f"(newest is {snap.index if snap else 'none'})")
        deleted = 0
        while len(self._segments) > 1 and self._segments[0].max_index <= index:
            delete_segment(self._segments.pop(0))
            deleted += 1
        if deleted:
            sync_dir(self._dir, self._fsync)

    def close(self) -> None:
        self._writer.close()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def __enter__(self) -> WAL:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def segments(self) -> list[Path]:
        """Paths of the live segment files, oldest first (for tests and operators)."""
        return [s.path for s in self._segments]


def _header(builder: LogBuilder) -> bytes:
    data = records.encode_hard_state(builder.hard_state)
    if builder.snapshot_meta is not None:
        data += records.encode_snapshot_meta(builder.snapshot_meta)
    return data


def _lock(directory: Path) -> int:
    """One process per WAL directory: a second opener would interleave appends."""
    fd = os.open(directory / "LOCK", os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RuntimeError(f"WAL directory {directory} is in use by another WAL") from None
    return fd


def _replay(segments: list[SegmentInfo]) -> tuple[LogBuilder, int, tuple[int, str] | None]:
    """Rebuild the log from every segment; returns where the last segment's records end
    and its torn tail (offset, why) if it has one, and raises CorruptLogError for any
    other damage."""
    for a, b in zip(segments, segments[1:]):
        if b.seq != a.seq + 1:
            raise CorruptLogError(f"segment sequence jumps from {a.seq} to {b.seq}: "
                                  f"segment(s) {a.seq + 1}..{b.seq - 1} missing", b.path, 0)
    builder = LogBuilder(segments[0].first_index, keep_entries=True)
    torn: tuple[int, str] | None = None
    records_end = 0
    for k, seg in enumerate(segments):
        last = k == len(segments) - 1
        if k and seg.first_index != builder.next_index:
            raise CorruptLogError(f"segment starts at index {seg.first_index} but the log before it "
                                  f"ends at {builder.next_index - 1}", seg.path, 0)
        buf = seg.path.read_bytes()
        scan = records.scan(buf)
        records_end = scan.valid_end
        if scan.problem:
            if not last:
                raise CorruptLogError(f"{scan.problem} in a segment that is not the last",
                                      seg.path, scan.valid_end)
            if scan.next_valid is not None:
                raise CorruptLogError(f"{scan.problem}, yet a valid record follows at offset "
                                      f"{scan.next_valid}: corruption inside the log",
                                      seg.path, scan.valid_end)
            torn = (scan.valid_end, scan.problem)
        for off, rtype, payload in scan.records:
            try:
                rec = records.decode(rtype, payload)
                if rec.entries:
                    builder.append(rec.entries)
                    seg.max_index = max(seg.max_index, rec.entries[-1].index)
            except ValueError as exc:
                raise CorruptLogError(str(exc), seg.path, off) from None
            if rec.hard_state is not None:
                builder.set_hard_state(rec.hard_state)
            if rec.snapshot_meta is not None:
                builder.apply_snapshot_meta(rec.snapshot_meta)
    if not builder.covered_from_start():
        base = builder.snapshot_meta.index if builder.snapshot_meta else 0
        raise CorruptLogError(f"log resumes at index {builder.offset} but the newest snapshot covers "
                              f"only up to {base}: earlier segments are missing", segments[0].path, 0)
    return builder, records_end, torn
