"""Progress: the leader's view of one follower (the paper's nextIndex and matchIndex).

A follower is in one of three states: PROBE (we do not know where its log ends: one
AppendEntries at a time until it answers), REPLICATE (its log matches: stream entries
optimistically, at most ``max_inflight_msgs`` unacknowledged) or SNAPSHOT (it needs
compacted entries: wait for the snapshot to be reported).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import IntEnum


class ProgressState(IntEnum):
    PROBE = 0
    REPLICATE = 1
    SNAPSHOT = 2


class Inflights:
    """The last indexes of the AppendEntries in flight to one follower, oldest first.

    A bounded ring: when it is full the leader stops sending until an ack frees a slot.
    """

    __slots__ = ("size", "_q")

    def __init__(self, size: int) -> None:
        self.size = size
        self._q: deque[int] = deque()

    def add(self, last_index: int) -> None:
        if len(self._q) >= self.size:
            raise AssertionError("inflights overflow")
        self._q.append(last_index)

    def free_le(self, index: int) -> None:
        """Forget every message acknowledged by an ack of ``index``."""
        q = self._q
        while q and q[0] <= index:
            q.popleft()

    def free_first_one(self) -> None:
        if self._q:
            self._q.popleft()

    def full(self) -> bool:
        return len(self._q) >= self.size

    def count(self) -> int:
        return len(self._q)

    def reset(self) -> None:
        self._q.clear()


class Progress:
    """Replication state of one peer, kept by the leader."""

    __slots__ = ("match", "next", "state", "probe_sent", "pending_snapshot",
                 "snapshot_elapsed", "recent_active", "inflights")

    def __init__(self, next_index: int, max_inflight: int, match: int = 0) -> None:
        self.match = match
        self.next = next_index
        self.state = ProgressState.PROBE
        self.probe_sent = False
        self.pending_snapshot = 0
        self.snapshot_elapsed = 0  # ticks spent waiting in SNAPSHOT state
        self.recent_active = False
        self.inflights = Inflights(max_inflight)

    def _reset_state(self, state: ProgressState) -> None:
        self.state = state
        self.probe_sent = False
        self.pending_snapshot = 0
        self.snapshot_elapsed = 0
        self.inflights.reset()

    def become_probe(self) -> None:
        """After a snapshot, resume right after it; otherwise right after the known match."""
        if self.state == ProgressState.SNAPSHOT:
            pending = self.pending_snapshot
            self._reset_state(ProgressState.PROBE)
            self.next = max(self.match + 1, pending + 1)
        else:
            self._reset_state(ProgressState.PROBE)
            self.next = self.match + 1

    def become_replicate(self) -> None:
        self._reset_state(ProgressState.REPLICATE)
        self.next = self.match + 1

    def become_snapshot(self, snapshot_index: int) -> None:
        self._reset_state(ProgressState.SNAPSHOT)
        self.pending_snapshot = snapshot_index

    def maybe_update(self, n: int) -> bool:
        """An ack of index ``n``; returns whether match advanced."""
        updated = False
        if self.match < n:
            self.match = n
            updated = True
            self.probe_sent = False
        if self.next < n + 1:
            self.next = n + 1
        return updated

    def maybe_decr_to(self, rejected: int, match_hint: int) -> bool:
        """A rejection of the append at ``rejected``; returns False if it is stale."""
        if self.state == ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, match_hint + 1), self.match + 1)
        self.probe_sent = False
        return True

    def sent_entries(self, last_index: int) -> None:
        """Record an AppendEntries carrying entries up to ``last_index``."""
        if self.state == ProgressState.REPLICATE:
            self.next = last_index + 1
            self.inflights.add(last_index)
        elif self.state == ProgressState.PROBE:
            self.probe_sent = True

    def is_paused(self) -> bool:
        if self.state == ProgressState.PROBE:
            return self.probe_sent
        if self.state == ProgressState.REPLICATE:
            return self.inflights.full()
        return True

    def view(self) -> "PeerProgress":
        return PeerProgress(self.match, self.next, self.state, self.recent_active)


@dataclass(frozen=True, slots=True)
class PeerProgress:
    """A read-only copy of a Progress, for ``Status``."""

    match: int
    next: int
    state: ProgressState
    recent_active: bool
