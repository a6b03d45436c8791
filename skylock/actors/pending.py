"""Client requests waiting for their proposal to be applied.

The gateway adds a request before proposing; the Store completes it when the
entry is applied on this node; the ticker fails those past their deadline with
``Timeout`` (the write may still happen: the client learns its effect is unknown,
as with any Raft or ZooKeeper write whose reply was lost).
"""

from __future__ import annotations

import itertools
import secrets
import threading
from dataclasses import dataclass
from typing import Any, Callable

from skylock.actors.messages import ReplyTo

#: Called (on the Store's thread) with the applied result or error instead of replying.
OnResult = Callable[[Any, Any], None]


@dataclass(slots=True)
class PendingRequest:
    reply: ReplyTo
    deadline: float
    op: str
    on_result: OnResult | None = None


class PendingRequests:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[int, PendingRequest] = {}
        # Tags travel in log entries (origin, tag) and outlive this process: after a restart the
        # node re-applies entries it proposed in its previous life, and a tag reused from 1 would
        # answer a new request with an old entry's result. Start each incarnation at a random
        # 62-bit offset so tags never repeat across restarts.
        self._tags = itertools.count(secrets.randbits(62))

    def add(self, reply: ReplyTo, op: str, deadline: float, on_result: OnResult | None = None) -> int:
        tag = next(self._tags)
        with self._lock:
            self._waiting[tag] = PendingRequest(reply, deadline, op, on_result)
        return tag

    def pop(self, tag: int) -> PendingRequest | None:
        with self._lock:
            return self._waiting.pop(tag, None)

    def pop_expired(self, now: float) -> list[PendingRequest]:
        with self._lock:
            expired = [t for t, p in self._waiting.items() if p.deadline <= now]
            return [self._waiting.pop(t) for t in expired]

    def __len__(self) -> int:
        return len(self._waiting)
