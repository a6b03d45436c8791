"""Config: the knobs of one Raft peer, validated once at construction."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Config:
    """Settings for a ``RawNode``.

    ``election_tick`` and ``heartbeat_tick`` are counted in calls to ``tick()``; the election
    timeout is drawn from ``[election_tick, max_election_tick)`` with ``rng`` so that peers rarely
    time out together (``max_election_tick`` 0 means ``2*election_tick``). ``applied`` is the last
    index the application had applied before a restart.

    ``lease_ticks`` > 0 turns on lease-based reads (§6.4.1): a leader that heard a majority
    acknowledge a heartbeat it sent at tick ``t`` answers ReadIndex at once until ``t +
    lease_ticks``, without a round. Followers ignore other candidates for ``election_tick``
    ticks after hearing from their leader (check-quorum's rule) and after a restart, so the
    lease is safe while ``lease_ticks`` leaves room for ticks that run at different speeds on
    different machines (the node derives it from ``raft.max_clock_drift``).
    """

    id: int
    election_tick: int = 10
    heartbeat_tick: int = 1
    max_election_tick: int = 0
    rng: random.Random = field(default_factory=lambda: random.Random(0))
    pre_vote: bool = True
    check_quorum: bool = True
    max_inflight_msgs: int = 256
    max_size_per_msg: int = 1 << 20
    applied: int = 0
    lease_ticks: int = 0

    @property
    def election_tick_bound(self) -> int:
        """The exclusive upper bound of the randomized election timeout, in ticks."""
        return self.max_election_tick or 2 * self.election_tick

    def validate(self) -> None:
        """Raise ValueError for a configuration that cannot work."""
        if self.id <= 0:
            raise ValueError("id must be a positive integer (0 means 'none')")
        if self.heartbeat_tick <= 0:
            raise ValueError("heartbeat_tick must be > 0")
        if self.election_tick <= self.heartbeat_tick:
            raise ValueError("election_tick must be greater than heartbeat_tick")
        if self.max_election_tick and self.max_election_tick <= self.election_tick:
            raise ValueError("max_election_tick must be greater than election_tick (or 0 for 2*election_tick)")
        if self.max_inflight_msgs <= 0:
            raise ValueError("max_inflight_msgs must be > 0")
        if self.max_size_per_msg <= 0:
            raise ValueError("max_size_per_msg must be > 0")
        if self.applied < 0:
            raise ValueError("applied must be >= 0")
        if self.lease_ticks < 0 or self.lease_ticks > self.election_tick - 2:
            raise ValueError("lease_ticks must be in [0, election_tick - 2]: a lease must end before "
                             "the followers' promise not to elect anyone else does")
        if self.lease_ticks and not self.check_quorum:
            raise ValueError("lease-based reads need check_quorum (the followers' promise)")
