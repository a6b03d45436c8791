"""The envelope around every command in the log: who proposed it and for which request.

Every node applies every entry; the node whose id is ``origin`` also answers the
client that asked (``tag`` finds it in that node's ``PendingRequests``). That is
how a write sent to a follower is answered by the node the client is on.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import msgpack
import pykka

from skylock.actors.messages import Propose, ReplyTo
from skylock.actors.pending import OnResult, PendingRequests


def encode_proposal(origin: int, tag: int, command: dict[str, Any]) -> bytes:
    return msgpack.packb([origin, tag, command], use_bin_type=True)


def propose_for(reply: ReplyTo, op: str, command: dict[str, Any], *, node_id: int, raft: pykka.ActorRef[Any],
                pending: PendingRequests, deadline: float, on_result: OnResult | None = None) -> None:
    """Propose ``command`` for a client request that waits for it: ``pending`` remembers
    the request (answered when the entry applies here, proposed again until then)."""
    tag = pending.next_tag()
    data = encode_proposal(node_id, tag, command)
    pending.add(tag, reply, op, data, deadline, on_result)
    raft.tell(Propose(data, tag))


def decode_proposal(data: bytes) -> tuple[int, int, dict[str, Any]] | None:
    """``None`` for an entry that carries no command (a new leader's empty entry) or garbage."""
    if not data:
        return None
    try:
        origin, tag, command = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except (ValueError, TypeError, msgpack.UnpackException):
        return None
    if not isinstance(command, dict):
        return None
    return int(origin), int(tag), command


class AppliedTags:
    """The (origin, tag) of recently applied proposals, so that a proposal sent
    again (after a lost forward or a leader change) is applied at most once.

    Part of the replicated state: every node builds the same table from the same
    log, and it travels inside snapshots, so every node skips the same entries.
    """

    def __init__(self, per_origin: int = 65536) -> None:
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
    def from_wire(cls, wire: list[list[Any]], per_origin: int = 65536) -> "AppliedTags":
        tags = cls(per_origin)
        for origin, order in wire:
            tags._order[int(origin)] = deque(int(t) for t in order)
            tags._seen[int(origin)] = set(tags._order[int(origin)])
        return tags


def encode_store_snapshot(machine_snapshot: bytes, tags: AppliedTags) -> bytes:
    return msgpack.packb([1, machine_snapshot, tags.to_wire()], use_bin_type=True)


def decode_store_snapshot(data: bytes) -> tuple[bytes, AppliedTags]:
    version, machine_snapshot, tags = msgpack.unpackb(data, raw=False, strict_map_key=False)
    if version != 1:
        raise ValueError(f"unknown store snapshot version {version}")
    return bytes(machine_snapshot), AppliedTags.from_wire(tags)
