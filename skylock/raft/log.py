"""RaftLog: the log as the core sees it — stable entries in storage plus an unstable tail.

The unstable part holds what the core has accepted but the application has not yet
persisted (new entries, a snapshot received from the leader). ``committed`` and ``applied``
are the paper's commitIndex and lastApplied.
"""

from __future__ import annotations

from collections.abc import Sequence

from .membership import ConfLog
from .storage import CompactedError, MemoryStorage, UnavailableError, limit_size
from .types import Entry, Snapshot


class StateLost(Exception):
    """This peer was told to commit past the end of its log: it lost entries it had
    acknowledged (its data was deleted, truncated or restored from an old copy), so
    any vote or ack it gave before may be forgotten too. Fatal: the peer must stop
    rather than rejoin with amnesia. ``commit`` and ``last_index`` say by how much."""

    def __init__(self, commit: int, last_index: int) -> None:
        super().__init__(
            f"told to commit index {commit} but the log ends at index {last_index}: "
            "the raft log was lost, truncated or corrupted")
        self.commit = commit
        self.last_index = last_index


class Unstable:
    """Entries (from ``offset``) and maybe a snapshot not yet handed to durable storage.

    ``in_progress`` marks what a Ready already handed out, so a second Ready does not repeat it.
    """

    __slots__ = ("snapshot", "entries", "offset", "in_progress", "snapshot_in_progress")

    def __init__(self, offset: int) -> None:
        self.snapshot: Snapshot | None = None
        self.entries: list[Entry] = []
        self.offset = offset
        self.in_progress = offset  # entries below this index were handed out
        self.snapshot_in_progress = False

    def maybe_first_index(self) -> int | None:
        return self.snapshot.meta.index + 1 if self.snapshot is not None else None

    def maybe_last_index(self) -> int | None:
        if self.entries:
            return self.offset + len(self.entries) - 1
        if self.snapshot is not None:
            return self.snapshot.meta.index
        return None

    def maybe_term(self, i: int) -> int | None:
        if i < self.offset:
            if self.snapshot is not None and self.snapshot.meta.index == i:
                return self.snapshot.meta.term
            return None
        n = i - self.offset
        if n < len(self.entries):
            return self.entries[n].term
        return None

    def to_persist(self) -> list[Entry]:
        """Entries not yet handed out in a Ready."""
        return self.entries[self.in_progress - self.offset:]

    def accept(self) -> None:
        """Everything currently unstable has been handed out."""
        self.in_progress = self.offset + len(self.entries)
        if self.snapshot is not None:
            self.snapshot_in_progress = True

    def stable_to(self, index: int, term: int) -> None:
        """The application persisted entries up to ``index`` (if still of ``term``)."""
        if self.maybe_term(index) != term or index < self.offset:
            return  # replaced meanwhile, or already stable
        cut = index + 1 - self.offset
        del self.entries[:cut]
        self.offset = index + 1
        self.in_progress = max(self.in_progress, self.offset)

    def stable_snap_to(self, index: int) -> None:
        if self.snapshot is not None and self.snapshot.meta.index == index:
            self.snapshot = None
            self.snapshot_in_progress = False

    def restore(self, snap: Snapshot) -> None:
        self.offset = snap.meta.index + 1
        self.in_progress = self.offset
        self.entries = []
        self.snapshot = snap
        self.snapshot_in_progress = False

    def truncate_and_append(self, ents: Sequence[Entry]) -> None:
        after = ents[0].index
        end = self.offset + len(self.entries)
        if after == end:
            self.entries.extend(ents)
        elif after <= self.offset:
            # replaces everything unstable (and possibly stable entries too)
            self.offset = after
            self.entries = list(ents)
        else:
            del self.entries[after - self.offset:]
            self.entries.extend(ents)
        self.in_progress = min(self.in_progress, after)


class RaftLog:
    """Stable storage plus the unstable tail, with the paper's commit/apply indexes."""

    def __init__(self, storage: MemoryStorage) -> None:
        self.storage = storage
        first = storage.first_index()
        last = storage.last_index()
        self.unstable = Unstable(last + 1)
        self.committed = first - 1
        self.applied = first - 1
        self.applying = first - 1  # last index handed out for applying
        stored = storage.entries(first, last + 1) if last >= first else []
        #: the configurations in this log (the latest one is in force, committed or not)
        self.confs = ConfLog(first - 1, storage.snapshot().meta.conf, stored)

    # ---- indexes and terms -------------------------------------------------

    def first_index(self) -> int:
        i = self.unstable.maybe_first_index()
        return i if i is not None else self.storage.first_index()

    def last_index(self) -> int:
        i = self.unstable.maybe_last_index()
        return i if i is not None else self.storage.last_index()

    def last_term(self) -> int:
        return self.term(self.last_index())

    def term(self, i: int) -> int:
        """Term of entry ``i``; 0 beyond the last entry; CompactedError below the first."""
        t = self.unstable.maybe_term(i)
        if t is not None:
            return t
        if i < self.first_index() - 1:
            raise CompactedError(i)
        if i > self.last_index():
            return 0
        try:
            return self.storage.term(i)
        except UnavailableError:
            return 0

    def durable_index(self) -> int:
        """The last index the app has persisted: everything before the unstable entries."""
        return self.unstable.offset - 1 if self.unstable.entries else self.last_index()

    def match_term(self, i: int, term: int) -> bool:
        try:
            return self.term(i) == term
        except CompactedError:
            return False

    def is_up_to_date(self, last_index: int, last_term: int) -> bool:
        """§5.4.1: a candidate's log is at least as up-to-date as ours."""
        lt = self.last_term()
        return last_term > lt or (last_term == lt and last_index >= self.last_index())

    # ---- reading entries ---------------------------------------------------

    def entries(self, lo: int, max_size: int | None = None) -> list[Entry]:
        """Entries from ``lo`` to the end, limited to ``max_size`` bytes (at least one)."""
        if lo > self.last_index():
            return []
        return self.slice(lo, self.last_index() + 1, max_size)

    def slice(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]:
        """Entries [lo, hi), read from storage and/or the unstable tail."""
        if lo < self.first_index():
            raise CompactedError(lo)
        if lo >= hi:
            return []
        u = self.unstable
        if hi <= u.offset:
            return self.storage.entries(lo, hi, max_size)
        if lo >= u.offset:
            return limit_size(u.entries[lo - u.offset:hi - u.offset], max_size)
        ents = self.storage.entries(lo, u.offset, max_size)
        if len(ents) < u.offset - lo:
            return ents  # size limit hit inside storage
        return limit_size(ents + u.entries[:hi - u.offset], max_size)

    def snapshot(self) -> Snapshot:
        if self.unstable.snapshot is not None:
            return self.unstable.snapshot
        return self.storage.snapshot()

    # ---- appending ---------------------------------------------------------

    def append(self, ents: Sequence[Entry]) -> int:
        if not ents:
            return self.last_index()
        if ents[0].index - 1 < self.committed:
            raise AssertionError(f"append at {ents[0].index} would overwrite committed {self.committed}")
        self.unstable.truncate_and_append(ents)
        self.confs.truncate_from(ents[0].index)
        self.confs.add(ents)
        return self.last_index()

    def find_conflict(self, ents: Sequence[Entry]) -> int:
        """Index of the first entry not already in our log with the same term, or 0."""
        if not ents:
            return 0
        if ents[0].index > self.last_index():
            return ents[0].index  # all new: the common case
        last = ents[-1]
        if self.match_term(last.index, last.term):
            return 0  # log matching: the whole range is already ours
        for e in ents:
            if not self.match_term(e.index, e.term):
                return e.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """Largest index <= ``index`` whose term is <= ``term``, with that term (fast backtracking)."""
        while index > 0:
            try:
                t = self.term(index)
            except CompactedError:
                return index, 0
            if t <= term:
                return index, t
            index -= 1
        return 0, 0

    def maybe_append(self, index: int, log_term: int, committed: int,
                     ents: Sequence[Entry]) -> int | None:
        """AppendEntries receiver rules 2-5; returns the last new index, or None on mismatch."""
        if not self.match_term(index, log_term):
            return None
        last_new = index + len(ents)
        ci = self.find_conflict(ents)
        if ci:
            if ci <= self.committed:
                raise AssertionError(f"entry {ci} conflicts with committed {self.committed}")
            self.append(ents[ci - index - 1:])
        self.commit_to(min(committed, last_new))
        return last_new

    # ---- commit and apply --------------------------------------------------

    def commit_to(self, index: int) -> None:
        """Raises StateLost if ``index`` is beyond our log: a commit index only ever
        reaches us (from our hard state or a leader) for entries we had stored."""
        if index > self.committed:
            if index > self.last_index():
                raise StateLost(index, self.last_index())
            self.committed = index

    def maybe_commit(self, index: int, term: int) -> bool:
        """Advance commit to ``index`` only if that entry is from ``term`` (§5.4.2)."""
        if index > self.committed and self.match_term(index, term):
            self.commit_to(index)
            return True
        return False

    def applied_to(self, index: int) -> None:
        if index <= 0:
            return
        if index > self.committed or index < self.applied:
            raise AssertionError(f"applied {index} outside [{self.applied}, {self.committed}]")
        self.applied = index
        self.applying = max(self.applying, index)

    def has_next_committed_entries(self) -> bool:
        if self.committed <= self.applying:
            return False  # the common case, checked first: this is polled on every Ready
        if self.unstable.snapshot is not None:
            return False  # the snapshot must be applied first
        return self.committed >= self.first_index()

    def next_committed_entries(self) -> list[Entry]:
        if not self.has_next_committed_entries():
            return []
        lo = max(self.applying + 1, self.first_index())
        return self.slice(lo, self.committed + 1)

    def restore(self, snap: Snapshot) -> None:
        """Replace the log with a snapshot received from the leader."""
        self.committed = snap.meta.index
        self.unstable.restore(snap)
        self.confs.reset(snap.meta.index, snap.meta.conf)
