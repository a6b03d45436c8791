"""ReadIndex bookkeeping (§6.4): reads wait for a heartbeat round that proves leadership.

Each request is keyed by its context; the leader records its commit index when the
request arrives, sends the context on heartbeats, and releases the request (and all
older ones) once a majority has echoed it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .types import Message


@dataclass(slots=True)
class ReadIndexStatus:
    req: Message
    index: int
    acks: set[int] = field(default_factory=set)


class ReadOnly:
    """Pending read requests, in arrival order."""

    def __init__(self) -> None:
        self.pending: dict[bytes, ReadIndexStatus] = {}
        self.queue: list[bytes] = []

    def add_request(self, index: int, m: Message) -> None:
        if m.context in self.pending:
            return
        self.pending[m.context] = ReadIndexStatus(m, index)
        self.queue.append(m.context)

    def recv_ack(self, peer: int, ctx: bytes) -> set[int] | None:
        """Record that ``peer`` echoed ``ctx``; the acks so far, or None if unknown."""
        rs = self.pending.get(ctx)
        if rs is None:
            return None
        rs.acks.add(peer)
        return rs.acks

    def advance(self, ctx: bytes) -> list[ReadIndexStatus]:
        """Release the request for ``ctx`` and every request queued before it."""
        if ctx not in self.pending:
            return []
        n = self.queue.index(ctx) + 1
        done, self.queue = self.queue[:n], self.queue[n:]
        return [self.pending.pop(c) for c in done]

    def last_pending_context(self) -> bytes | None:
        return self.queue[-1] if self.queue else None
