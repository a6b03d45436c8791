"""Rebuilding the log from WAL records: the rules that turn a record sequence into
(hard state, snapshot meta, entries), shared by recovery and by the live writer so both
always agree on where the log ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from skylock.raft.types import Entry, HardState, Snapshot, SnapshotMeta
from skylock.storage.errors import CorruptLogError


@dataclass(frozen=True, slots=True)
class Recovered:
    """What a WAL held when it was opened."""

    hard_state: HardState = field(default_factory=HardState)
    snapshot_meta: SnapshotMeta | None = None
    #: the log after snapshot_meta.index (or from index 1), overwrites resolved
    entries: list[Entry] = field(default_factory=list)

    def check_snapshot(self, snapshot: Snapshot | None) -> None:
        """Raise CorruptLogError if the WAL names a snapshot the store could not produce.

        ``snapshot`` is ``SnapshotStore.load_newest()``. A store snapshot *newer* than the
        WAL's record is fine (a crash between ``snaps.save`` and ``save_snapshot_meta``):
        the node then ignores recovered entries at or below its index.
        """
        want = self.snapshot_meta
        if want is None or want.index == 0:
            return
        have = None if snapshot is None else snapshot.meta
        if have is None or have.index < want.index or (have.index == want.index and have.term != want.term):
            found = "none" if have is None else f"index {have.index} term {have.term}"
            raise CorruptLogError(
                f"the WAL records a snapshot at index {want.index} term {want.term} but the newest "
                f"valid snapshot file is {found}: the snapshot file is missing or damaged")


class LogBuilder:
    """Applies records in order: entries overwrite from their first index on (Raft's
    conflicting-tail rule), a snapshot meta drops the entries it covers, the latest hard
    state wins. Keeps terms always and whole entries only when asked (recovery)."""

    def __init__(self, first_index: int, keep_entries: bool) -> None:
        self.offset = first_index  # index of terms[0]; everything below is covered or gone
        self.terms: list[int] = []
        self.entries: list[Entry] | None = [] if keep_entries else None
        self.hard_state = HardState()
        self.snapshot_meta: SnapshotMeta | None = None

    @property
    def next_index(self) -> int:
        return self.offset + len(self.terms)

    def check_append(self, entries: Sequence[Entry]) -> None:
        """ValueError unless ``entries`` are consecutive and attach to the log (no gap)."""
        first = entries[0].index
        if first > self.next_index:
            raise ValueError(f"entry index {first} leaves a gap after {self.next_index - 1}")
        indexes = [e.index for e in entries]
        if indexes != list(range(first, first + len(indexes))):
            bad = next(k for k in range(1, len(indexes)) if indexes[k] != indexes[k - 1] + 1)
            raise ValueError(f"entries not consecutive: {indexes[bad - 1]} then {indexes[bad]}")

    def append(self, entries: Sequence[Entry], checked: bool = False) -> None:
        """Apply an entries record; ``checked`` skips check_append when the caller just ran it."""
        if not entries:
            return
        if not checked:
            self.check_append(entries)
        first = entries[0].index
        if first < self.offset:  # rewrites below what we hold: keep only the part above
            entries = entries[self.offset - first:]
            first = self.offset
            cut = 0
        else:
            cut = first - self.offset
        del self.terms[cut:]
        self.terms.extend([e.term for e in entries])
        if self.entries is not None:
            del self.entries[cut:]
            self.entries.extend(entries)

    def set_hard_state(self, hs: HardState) -> None:
        self.hard_state = hs

    def apply_snapshot_meta(self, meta: SnapshotMeta) -> None:
        """Entries after the snapshot survive only if the log agrees with it at its index."""
        self.snapshot_meta = meta
        i = meta.index
        if i < self.offset:
            return  # an older snapshot than what the log already starts after
        keep_from = 0
        if i < self.next_index and self.terms[i - self.offset] == meta.term:
            keep_from = i - self.offset + 1
        else:
            keep_from = len(self.terms)  # conflicting or beyond the log: nothing survives
        del self.terms[:keep_from]
        if self.entries is not None:
            del self.entries[:keep_from]
        self.offset = i + 1

    def covered_from_start(self) -> bool:
        """True when the log starts right after the snapshot (or at 1): nothing is missing."""
        base = self.snapshot_meta.index if self.snapshot_meta is not None else 0
        return self.offset <= base + 1

    def result(self) -> Recovered:
        return Recovered(self.hard_state, self.snapshot_meta, list(self.entries or []))
