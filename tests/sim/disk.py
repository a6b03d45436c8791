"""A node's disk: exactly what it had made durable before sending anything.

A crash keeps this and loses everything else (the RawNode, its MemoryStorage,
the applied state machine). The app loop writes here first (hard state,
entries, snapshot of a Ready), and only then mirrors into MemoryStorage and
sends messages, which is the ordering a real WAL gives. A restart rebuilds a
fresh MemoryStorage from the disk, so anything the core forgot to hand to the
app in a Ready is gone after a crash, as it would be in production.
"""

from __future__ import annotations

from skylock.raft import (ConfState, Entry, EntryType, HardState, MemoryStorage, Snapshot, SnapshotMeta,
                          decode_conf_state)


class DiskError(AssertionError):
    """The core handed the app something a WAL cannot store consistently."""


class Disk:
    """Durable hard state + snapshot + the contiguous entries after it."""

    def __init__(self, conf: ConfState) -> None:
        self.conf = conf
        self.hard_state = HardState()
        self.snapshot = Snapshot(SnapshotMeta(0, 0, conf), b"")
        self.entries: list[Entry] = []
        #: the configurations in this log, (index, conf), the snapshot's first
        self.confs: list[tuple[int, ConfState]] = [(0, conf)]

    # ---- reading ------------------------------------------------------------

    @property
    def first_index(self) -> int:
        return self.snapshot.meta.index + 1

    @property
    def last_index(self) -> int:
        return self.entries[-1].index if self.entries else self.snapshot.meta.index

    def term(self, index: int) -> int | None:
        """Term of the entry at ``index``; None if compacted away or absent."""
        snap = self.snapshot.meta
        if index == snap.index:
            return snap.term
        off = index - snap.index - 1
        if 0 <= off < len(self.entries):
            return self.entries[off].term
        return None

    def entry(self, index: int) -> Entry | None:
        off = index - self.snapshot.meta.index - 1
        if 0 <= off < len(self.entries):
            return self.entries[off]
        return None

    def latest_conf(self) -> ConfState:
        return self.confs[-1][1]

    def conf_at(self, index: int) -> ConfState:
        return [c for i, c in self.confs if i <= index][-1]

    def uncommitted_confs(self) -> int:
        """Configuration entries above the durable commit index."""
        return sum(1 for i, _ in self.confs if i > self.hard_state.commit)

    # ---- writing (one Ready = one fsync) -------------------------------------

    def install_snapshot(self, snap: Snapshot) -> None:
        """A snapshot received from the leader replaces the whole log."""
        if snap.meta.index < self.snapshot.meta.index:
            raise DiskError(
                f"snapshot {snap.meta.index} older than stored {self.snapshot.meta.index}")
        self.snapshot = snap
        self.entries = []
        self.confs = [(snap.meta.index, snap.meta.conf)]

    def append(self, entries: list[Entry] | tuple[Entry, ...]) -> list[tuple[Entry, int]]:
        """Store entries (a stored index is replaced with its whole tail).

        Returns each new entry with the term of the entry before it in this
        log, which is what the log-matching check needs.
        """
        if not entries:
            return []
        first = entries[0].index
        for a, b in zip(entries, entries[1:]):
            if b.index != a.index + 1:
                raise DiskError(f"non-contiguous entries in one Ready: {a.index} then {b.index}")
        if first <= self.snapshot.meta.index:
            raise DiskError(
                f"entry {first} at or below the snapshot index {self.snapshot.meta.index}")
        if first > self.last_index + 1:
            raise DiskError(f"gap: entry {first} after last index {self.last_index}")
        keep = first - self.snapshot.meta.index - 1
        prev_term = self.term(first - 1)
        assert prev_term is not None
        del self.entries[keep:]
        self._track_confs(entries)
        out = []
        for e in entries:
            out.append((e, prev_term))
            prev_term = e.term
        self.entries.extend(entries)
        return out

    def _track_confs(self, entries: list[Entry] | tuple[Entry, ...]) -> None:
        """Follow the configurations; each must differ from the one before it in this log
        by at most one voter (single-server changes: consecutive majorities overlap). A
        joining node starts from no configuration and takes the first one it is sent."""
        first = entries[0].index
        while len(self.confs) > 1 and self.confs[-1][0] >= first:
            self.confs.pop()
        for e in entries:
            if e.type != EntryType.CONF:
                continue
            conf = decode_conf_state(e.data)
            prev = self.confs[-1][1]
            if prev.voters and len(set(prev.voters) ^ set(conf.voters)) > 1:
                raise DiskError(f"configuration at {e.index} changes more than one voter: "
                                f"{prev.voters} -> {conf.voters}")
            self.confs.append((e.index, conf))

    def set_hard_state(self, hs: HardState) -> None:
        old = self.hard_state
        if hs.term < old.term:
            raise DiskError(f"term went back from {old.term} to {hs.term}")
        if hs.term == old.term and old.vote and hs.vote != old.vote:
            raise DiskError(f"vote changed within term {hs.term}: {old.vote} -> {hs.vote}")
        if hs.commit < old.commit:
            raise DiskError(f"durable commit went back from {old.commit} to {hs.commit}")
        self.hard_state = hs

    def compact(self, snap: Snapshot) -> None:
        """The app snapshotted its state at ``snap.meta.index`` and dropped older entries."""
        self.snapshot = snap
        self.entries = [e for e in self.entries if e.index > snap.meta.index]
        self.confs = [(snap.meta.index, snap.meta.conf)] + [c for c in self.confs if c[0] > snap.meta.index]

    # ---- restart ----------------------------------------------------------------

    def restore(self) -> MemoryStorage:
        """A fresh MemoryStorage holding exactly what survived the crash."""
        storage = MemoryStorage()
        if self.snapshot.meta.index == 0:
            storage.bootstrap(self.conf)
        else:
            storage.apply_snapshot(self.snapshot)
        if self.entries:
            storage.append(list(self.entries))
        storage.set_hard_state(self.hard_state)
        return storage
