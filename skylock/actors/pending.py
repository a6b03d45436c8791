"""Client requests waiting for their proposal to be applied.

The gateway adds a request with its encoded proposal before proposing; the Store
completes it when the entry is applied on this node. Until then the ticker
proposes it again every ``RETRY_SECONDS`` — a proposal forwarded to a leader that
dies, or over a link that is down, is otherwise lost silently — and the Store
applies each (origin, tag) at most once, so a retry never applies twice. Past its
deadline a request fails with ``Timeout`` (the write may still happen: the client
learns its effect is unknown, as with any Raft or ZooKeeper write whose reply was
lost).
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from skylock.actors.messages import ReplyTo

#: Called (on the Store's thread) with the applied result or error instead of replying.
OnResult = Callable[[Any, Any], None]

RETRY_SECONDS = 1.0


@dataclass(slots=True)
class PendingRequest:
    tag: int
    reply: ReplyTo
    deadline: float
    op: str
    data: bytes
    retry_at: float
    on_result: OnResult | None = None


class PendingRequests:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[int, PendingRequest] = {}
        # Tags must never repeat, not even across restarts of this node: the applied
        # log remembers them (a restarted node re-applies what it proposed before).
        # A random 62-bit start per incarnation makes a collision practically impossible.
        self._tags = itertools.count(random.getrandbits(62))

    def next_tag(self) -> int:
        with self._lock:
            return next(self._tags)

    def add(self, tag: int, reply: ReplyTo, op: str, data: bytes, deadline: float,
            on_result: OnResult | None = None) -> None:
        request = PendingRequest(tag, reply, deadline, op, data, time.monotonic() + RETRY_SECONDS, on_result)
        with self._lock:
            self._waiting[tag] = request

    def get(self, tag: int) -> PendingRequest | None:
        with self._lock:
            return self._waiting.get(tag)

    def pop(self, tag: int) -> PendingRequest | None:
        with self._lock:
            return self._waiting.pop(tag, None)

    def pop_expired(self, now: float) -> list[PendingRequest]:
        with self._lock:
            expired = [t for t, p in self._waiting.items() if p.deadline <= now]
            return [self._waiting.pop(t) for t in expired]

    def due_for_retry(self, now: float) -> list[PendingRequest]:
        """Requests not applied after ``RETRY_SECONDS``: propose them again (same tag)."""
        with self._lock:
            due = [p for p in self._waiting.values() if p.retry_at <= now]
            for p in due:
                p.retry_at = now + RETRY_SECONDS
            return due

    def __len__(self) -> int:
        return len(self._waiting)
