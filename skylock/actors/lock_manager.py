"""The LockManager actor: lock-delays, which the replicated state cannot time.

Lock-delay (Chubby's): if a session expires while holding a lock acquired with
``lock_delay_ms``, the lock is granted to nobody for that long, so a holder that was
only paused or cut off stops acting on it before anyone else starts. The state machine
marks the lock delayed when it applies the expiry, but it has no clock: the delay's end
is a log entry (``lock_delay_end``) that the leader proposes once the delay has run its
full length *from when this node saw it start or became leader* (RaftNode proposes it
again until it commits). Every node tracks the delays it sees applied, so a new leader
restarts every pending one at its full length: a delay may grow by up to its length
over a leader change, never shrink, as the SessionManager does with session deadlines.

The lock requests that wait are the Store's (``skylock/actors/lock_waits.py``): it answers
them on the thread whose apply grants them. The Store tells this actor a lock's changes
only when a delay starts or ends (``LocksChanged``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pykka

from skylock.actors.base import NodeActor
from skylock.actors.messages import CheckLocks, LeadershipChanged, LocksChanged, Propose
from skylock.state import commands


@dataclass(slots=True)
class _Delay:
    since: int  # the zxid that started it: names it in lock_delay_end
    seconds: float
    due: float | None  # leader only: when to propose its end (monotonic)


class LockManager(NodeActor):
    def __init__(self, node_id: int) -> None:
        super().__init__(node_id)
        self.raft: pykka.ActorRef[Any] | None = None
        self._delays: dict[str, _Delay] = {}  # name -> its pending lock-delay, as applied here
        self._is_leader = False
        self.handlers = {
            LocksChanged: self._on_locks_changed,
            CheckLocks: self._on_check,
            LeadershipChanged: self._on_leadership,
        }

    def connect(self, raft: pykka.ActorRef[Any]) -> None:
        self.raft = raft

    def _propose(self, command: dict[str, Any], leader_only: bool = False) -> None:
        """A proposal nobody waits for (its effect is observed through ``LocksChanged``);
        RaftNode proposes it until it commits (or, ``leader_only``, until this node stops leading)."""
        assert self.raft is not None
        self.raft.tell(Propose(command, leader_only=leader_only))

    def _on_locks_changed(self, msg: LocksChanged) -> None:
        for name, change in msg.locks.items():
            self._track_delay(name, change.delay)

    def _on_check(self, msg: CheckLocks) -> None:
        self._end_due_delays(msg.now)

    def _track_delay(self, name: str, delay: dict[str, Any] | None) -> None:
        if delay is None:
            self._delays.pop(name, None)
            return
        known = self._delays.get(name)
        if known is None or known.since != int(delay["since"]):
            seconds = int(delay["lock_delay_ms"]) / 1000.0
            due = time.monotonic() + seconds if self._is_leader else None
            self._delays[name] = _Delay(int(delay["since"]), seconds, due)

    def _on_leadership(self, msg: LeadershipChanged) -> None:
        became_leader = msg.is_leader and not self._is_leader
        self._is_leader = msg.is_leader
        now = time.monotonic()
        for pending in self._delays.values():
            if not msg.is_leader:
                pending.due = None  # the leader ends it
            elif became_leader:
                # we cannot know how long ago it started elsewhere: wait the whole delay
                pending.due = now + pending.seconds

    def _end_due_delays(self, now: float) -> None:
        """Leader: propose the end of every delay that is over, again after a while until it applies."""
        for name, pending in self._delays.items():
            if self._is_leader and pending.due is not None and pending.due <= now:
                pending.due = None  # RaftNode proposes it until it commits, while this node leads
                self._propose(commands.lock_delay_end(name, since=pending.since), leader_only=True)
