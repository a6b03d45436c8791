"""The LockManager times lock-delays: only the leader proposes their end, a full delay after
it saw the delay start or became leader, so a leader change never shortens a delay and
never leaves one pending forever."""

from __future__ import annotations

import threading
import time

import pykka

from skylock.actors.lock_manager import LockManager
from skylock.actors.messages import CheckLocks, LeadershipChanged, LockChange, LocksChanged, Propose


def _delayed(since: int, delay_ms: int) -> LocksChanged:
    delay = {"lock_delay_ms": delay_ms, "entry": "lock-0000000001", "since": since}
    return LocksChanged({"db": LockChange(holder=None, delay=delay, queued=0, left=frozenset({"lock-0000000001"}))})


def test_only_the_leader_ends_a_delay_and_a_new_leader_waits_it_whole() -> None:
    proposed: list[tuple[dict, bool]] = []
    mutex = threading.Lock()

    class Raft(pykka.ThreadingActor):  # stands in for RaftNode: records proposals
        def on_receive(self, message):  # noqa: ANN001
            if isinstance(message, Propose):
                with mutex:
                    proposed.append((message.command, message.leader_only))

    def proposals() -> list[tuple[dict, bool]]:
        raft.ask("flush")  # what the manager told before has been handled now
        with mutex:
            return list(proposed)

    raft = Raft.start()
    manager = LockManager.start(1)
    try:
        manager.proxy().connect(raft).get()
        manager.ask(_delayed(since=7, delay_ms=10_000))  # applied while a follower
        manager.ask(CheckLocks(time.monotonic() + 3600))
        assert proposals() == []  # a follower never ends a delay
        became = time.monotonic()
        manager.ask(LeadershipChanged(1, 2, True))
        manager.ask(CheckLocks(became + 5))
        assert proposals() == []  # not before a whole delay after becoming leader
        manager.ask(CheckLocks(time.monotonic() + 10.5))
        assert proposals() == [({"op": "lock.delay_end", "name": "db", "since": 7}, True)]  # a leader's duty
        manager.ask(LeadershipChanged(2, 3, False))
        manager.ask(CheckLocks(time.monotonic() + 3600))
        assert len(proposals()) == 1  # no longer leader: no retry from here
        manager.ask(LocksChanged({"db": LockChange(holder=None, delay=None, queued=0)}))  # ended
        manager.ask(LeadershipChanged(1, 4, True))
        manager.ask(CheckLocks(time.monotonic() + 3600))
        assert len(proposals()) == 1  # an ended delay is forgotten
    finally:
        manager.stop()
        raft.stop()
