"""MemoryStorage: the stable log as the Raft core reads it.

The application persists each Ready (WAL, snapshot files) and mirrors it here; the core only
reads. ``entries[0]`` is a dummy entry standing for the last snapshot (its index and term), so
``term(snapshot index)`` keeps working after compaction.
"""

from __future__ import annotations

from operator import attrgetter

from .types import ConfState, Entry, HardState, Snapshot, SnapshotMeta


_data = attrgetter("data")


class StorageError(Exception):
    """Base of the errors storage reports to the core."""


class CompactedError(StorageError):
    """The requested index is at or below the last compaction: ask for the snapshot instead."""


class UnavailableError(StorageError):
    """The requested index is beyond the last stored entry."""


class SnapshotOutOfDateError(StorageError):
    """The snapshot is older than the one already held."""


class MemoryStorage:
    """An in-memory log, hard state and snapshot."""

    def __init__(self) -> None:
        self.hard_state = HardState()
        self._snapshot = Snapshot()
        self._ents: list[Entry] = [Entry(0, 0)]

    # ---- setup -------------------------------------------------------------

    def bootstrap(self, conf: ConfState) -> None:
        """Start a fresh cluster: the configuration becomes the index-0 snapshot metadata."""
        if self.last_index() != 0 or self._snapshot.meta.index != 0:
            raise StorageError("bootstrap on a non-empty storage")
        self._snapshot = Snapshot(SnapshotMeta(0, 0, conf))

    def initial_state(self) -> tuple[HardState, ConfState]:
        return self.hard_state, self._snapshot.meta.conf

    # ---- reads -------------------------------------------------------------

    def first_index(self) -> int:
        return self._ents[0].index + 1

    def last_index(self) -> int:
        return self._ents[0].index + len(self._ents) - 1

    def term(self, i: int) -> int:
        offset = self._ents[0].index
        if i < offset:
            raise CompactedError(i)
        if i - offset >= len(self._ents):
            raise UnavailableError(i)
        return self._ents[i - offset].term

    def entries(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]:
        """Entries [lo, hi); at least one entry, then as many as fit in ``max_size`` data bytes."""
        offset = self._ents[0].index
        if lo <= offset:
            raise CompactedError(lo)
        if hi > self.last_index() + 1:
            raise UnavailableError(hi)
        ents = self._ents[lo - offset:hi - offset]
        return limit_size(ents, max_size)

    def snapshot(self) -> Snapshot:
        return self._snapshot

    # ---- writes (the application mirrors what it persisted) ---------------

    def set_hard_state(self, hs: HardState | None) -> None:
        if hs is not None:
            self.hard_state = hs

    def apply_snapshot(self, snap: Snapshot | None) -> None:
        """Replace the whole log with ``snap``; ignored when None."""
        if snap is None:
            return
        if snap.meta.index < self._snapshot.meta.index:
            raise SnapshotOutOfDateError(snap.meta.index)
        self._snapshot = snap
        self._ents = [Entry(snap.meta.term, snap.meta.index)]

    def create_snapshot(self, index: int, conf: ConfState, data: bytes) -> Snapshot:
        """Record the application's state as of ``index`` as the current snapshot."""
        if index <= self._snapshot.meta.index:
            raise SnapshotOutOfDateError(index)
        if index > self.last_index():
            raise UnavailableError(index)
        snap = Snapshot(SnapshotMeta(index, self.term(index), conf), data)
        self._snapshot = snap
        return snap

    def compact(self, index: int) -> None:
        """Drop the entries up to and including ``index`` (keep it as the dummy)."""
        offset = self._ents[0].index
        if index <= offset:
            raise CompactedError(index)
        if index > self.last_index():
            raise UnavailableError(index)
        self._ents = self._ents[index - offset:]

    def append(self, entries: list[Entry] | tuple[Entry, ...]) -> None:
        """Append ``entries``; an entry whose index is already stored replaces it and the tail."""
        if not entries:
            return
        first = self.first_index()
        if entries[-1].index < first:
            return  # all already compacted
        if entries[0].index < first:
            entries = entries[first - entries[0].index:]
        offset = self._ents[0].index
        at = entries[0].index - offset
        if at == len(self._ents):
            self._ents.extend(entries)
        elif at < len(self._ents):
            del self._ents[at:]
            self._ents.extend(entries)
        else:
            raise StorageError(f"missing log entry before {entries[0].index}")


def limit_size(ents: list[Entry], max_size: int | None) -> list[Entry]:
    """The longest prefix of ``ents`` (at least one entry) whose data fits ``max_size``."""
    if max_size is None or len(ents) <= 1:
        return ents
    if sum(map(len, map(_data, ents))) <= max_size:  # common case, summed in C
        return ents
    total = 0
    for n, e in enumerate(ents):
        total += len(e.data)
        if total > max_size and n > 0:
            return ents[:n]
    return ents
