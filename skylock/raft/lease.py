"""The leader's read lease (Raft thesis §6.4.1): ReadIndex without a round of heartbeats.

A follower that hears from its leader ignores every other candidate for an election
timeout (check-quorum's rule, ``Raft.step``). So once a majority has acknowledged a
heartbeat the leader sent at its tick ``t``, no other leader can be elected before that
majority's promises run out, which is after ``t + election_tick`` on their clocks. The
leader answers reads at its commit index until ``t + lease_ticks`` on its own clock;
``lease_ticks`` is shorter than the election timeout by the drift the clocks may have
(``raft.max_clock_drift``) and two ticks of rounding, one at each end.

The lease is ended for good (until a new term) when the leader tells a follower to
campaign at once (leadership transfer): that campaign overrides the followers' promise.
Counted in ticks of this node only, it needs no clock of its own: the core stays pure.
"""

from __future__ import annotations

from . import quorum

#: heartbeats that renew the lease carry this and the tick they were sent at
LEASE_CONTEXT = b"\x00lease:"


class ReadLease:
    def __init__(self, lease_ticks: int) -> None:
        self.lease_ticks = lease_ticks
        self.now = 0
        self.until = 0
        self.revoked = False
        #: acknowledgements of heartbeats sent before this tick do not count (see ``suspend``)
        self._not_before = 0
        #: tick a lease heartbeat was sent at -> who acknowledged it (the leader included)
        self._acks: dict[int, set[int]] = {}

    @property
    def enabled(self) -> bool:
        return self.lease_ticks > 0

    def tick(self) -> None:
        self.now += 1
        horizon = self.now - self.lease_ticks
        for sent in [t for t in self._acks if t <= horizon]:
            del self._acks[sent]  # it could not extend the lease any more

    def reset(self) -> None:
        """A new term: no lease until a majority acknowledges this leader."""
        self.until = 0
        self.revoked = False
        self._acks = {}

    def revoke(self) -> None:
        self.revoked = True

    def suspend(self) -> None:
        """The ticks stopped for a while (the process was paused, the machine stalled): time
        passed that the tick count does not show, so the lease, and every acknowledgement of a
        heartbeat sent before now, may be stale. Only heartbeats sent from the next tick on
        renew it."""
        self.until = 0
        self._not_before = self.now + 1
        self._acks = {}

    def context(self) -> bytes:
        return LEASE_CONTEXT + self.now.to_bytes(8, "big")

    def acknowledged(self, ctx: bytes, peer: int, leader: int, voters: tuple[int, ...]) -> bool:
        """``peer`` echoed ``ctx``; True if it was a lease heartbeat (handled here)."""
        if not ctx.startswith(LEASE_CONTEXT):
            return False
        sent = int.from_bytes(ctx[len(LEASE_CONTEXT):], "big")
        if sent < self._not_before or sent + self.lease_ticks <= self.until:
            return True  # nothing to gain from it
        acks = self._acks.setdefault(sent, {leader})
        acks.add(peer)
        if len(acks & set(voters)) >= quorum.majority(len(voters)):
            self.until = sent + self.lease_ticks
            for t in [t for t in self._acks if t <= sent]:
                del self._acks[t]
        return True

    def holds(self) -> bool:
        return self.enabled and not self.revoked and self.now < self.until


def lease_ticks_for(election_tick: int, max_clock_drift: float) -> int:
    """The longest safe lease, in ticks, when two nodes' clocks may run apart by up to
    ``max_clock_drift`` (0.1: 10%); 0 (no lease) when nothing is left of it."""
    return max(0, int(election_tick * (1.0 - max_clock_drift)) - 2)
