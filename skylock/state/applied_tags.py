"""The (origin, tag) of recently applied proposals, so that a proposal sent again (after a
lost forward or a leader change) is applied at most once.

Part of the replicated state: every node builds the same table from the same log, and it
travels inside snapshots (``envelope.encode_snapshot``), so every node skips the same entries.
"""

from __future__ import annotations

from collections import deque
from typing import Any

#: Tags remembered per origin node; a retry older than this many later proposals of the
#: same node would apply twice (retries come within seconds, proposals are far fewer).
PER_ORIGIN = 65536


class AppliedTags:
    def __init__(self, per_origin: int = PER_ORIGIN) -> None:
        self.per_origin = per_origin
        self._order: dict[int, deque[int]] = {}
        self._seen: dict[int, set[int]] = {}

    def first_time(self, origin: int, tag: int) -> bool:
        seen = self._seen.setdefault(origin, set())
        if tag in seen:
            return False
        order = self._order.setdefault(origin, deque())
        seen.add(tag)
        order.append(tag)
        if len(order) > self.per_origin:
            seen.discard(order.popleft())
        return True

    def to_wire(self) -> list[list[Any]]:
        return [[origin, list(order)] for origin, order in sorted(self._order.items())]

    @classmethod
    def from_wire(cls, wire: list[list[Any]], per_origin: int = PER_ORIGIN) -> "AppliedTags":
        tags = cls(per_origin)
        for origin, order in wire:
            tags._order[int(origin)] = deque(int(t) for t in order)
            tags._seen[int(origin)] = set(tags._order[int(origin)])
        return tags
