"""This node's Raft term, role and leader, published for readers on any thread.

The JSON log formatter stamps every line with them (``skylock/logs.py``), on whatever
thread logs. Asking the RaftNode actor from there would block, and sharing its core
would break the one-owner rule, so the RaftNode *publishes* an immutable ``RaftView``
here whenever term, role or leader change: one reference swap (atomic in CPython), read
without a lock. A reader may see a view a moment old, which a log line tolerates.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RaftView:
    term: int = 0
    role: str = "follower"
    #: 0: no leader known
    leader: int = 0


class RaftViewBoard:
    """One writer (the RaftNode actor), any number of readers."""

    __slots__ = ("current",)

    def __init__(self) -> None:
        self.current = RaftView()

    def publish(self, term: int, role: str, leader: int) -> None:
        if self.current != (view := RaftView(term, role, leader)):
            self.current = view
