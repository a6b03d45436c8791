"""The peer wire protocol: what one node says to another, and the checks a frame
passes before anything behind the transport sees it.

A payload is a msgpack list ``[kind, body]``:

- ``["raft", message]``           a Raft message (``skylock.raft.types.message_to_wire``)
- ``["touch", [batch_id, [session_id, ...]]]``  session heartbeats a follower forwards
- ``["touched", batch_id]``       the leader took that batch
- ``["status?", [from_id, round_id]]``  / ``["status!", [round_id, status]]``  status rounds

Peer frames are untrusted input like client frames (DESIGN section 7). ``parse_peer_frame``
checks every field (exact types, int64 ranges, sizes, the message types a peer may send)
and that the frame speaks for the connection it came on: the sender is the routing id
the transport saw, never a field of the body, and a body that names another sender is
refused. Anything else raises ``BadRequest``; the transport drops and counts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Union

import msgpack

from skylock.errors import BadRequest
from skylock.net.codec import decode
from skylock.raft.types import (
    INT64_LIMIT,
    MalformedMessage,
    Message,
    check_wire_message,
    message_from_wire,
    message_to_wire,
)

RAFT = "raft"
TOUCH = "touch"
TOUCH_ACK = "touched"
STATUS_REQ = "status?"
STATUS_RESP = "status!"

#: session ids are uuid4 hex (32 characters); anything much longer is not one of ours
MAX_SESSION_ID = 256
#: a node's status is a dozen scalars
MAX_STATUS_FIELDS = 32
MAX_STATUS_TEXT = 1024


@dataclass(frozen=True, slots=True)
class PeerLimits:
    """Bounds a peer frame must respect beyond the frame size the socket enforces."""

    #: entries in one AppendEntries or forwarded proposal
    max_entries: int = 1 << 20

    @classmethod
    def for_batches_of(cls, max_size_per_msg: int) -> PeerLimits:
        """An honest leader packs entries up to ``max_size_per_msg`` data bytes; every entry
        but an election's empty one holds at least a byte, so this many always suffice."""
        return cls(max_entries=max_size_per_msg + 65536)


# --------------------------------------------------------------------------- frames


@dataclass(frozen=True, slots=True)
class RaftFrame:
    message: Message


@dataclass(frozen=True, slots=True)
class Touches:
    batch_id: int
    session_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TouchesAck:
    batch_id: int


@dataclass(frozen=True, slots=True)
class StatusAsk:
    round_id: int


@dataclass(frozen=True, slots=True)
class StatusAnswer:
    round_id: int
    status: dict[str, Any]


PeerFrame = Union[RaftFrame, Touches, TouchesAck, StatusAsk, StatusAnswer]


# --------------------------------------------------------------------------- encoding


def encode_raft(message: Message) -> bytes:
    return msgpack.packb([RAFT, message_to_wire(message)], use_bin_type=True)


def encode_peer(kind: str, body: Any) -> bytes:
    return msgpack.packb([kind, body], use_bin_type=True)


# --------------------------------------------------------------------------- decoding


def parse_peer_frame(payload: bytes, *, sender: int, receiver: int, limits: PeerLimits = PeerLimits()) -> PeerFrame:
    """Validate one payload that member ``sender`` sent to ``receiver``; raises BadRequest."""
    value = decode(payload)
    if not isinstance(value, list) or len(value) != 2:
        raise BadRequest("a peer frame is [kind, body]")
    kind, body = value
    parse = _PARSERS.get(kind) if isinstance(kind, str) else None
    if parse is None:
        raise BadRequest(f"unknown peer frame kind {kind!r}"[:200])
    try:
        return parse(body, sender, receiver, limits)
    except (MalformedMessage, ValueError, TypeError) as exc:  # the checks raise the first; the rest is a net
        raise BadRequest(f"{kind} frame: {exc}"[:300]) from None


def _raft(body: Any, sender: int, receiver: int, limits: PeerLimits) -> RaftFrame:
    m = message_from_wire(body)
    if m.frm != sender:
        raise MalformedMessage(f"message claims to be from {m.frm}, the connection is {sender}")
    if m.to != receiver:
        raise MalformedMessage(f"message is for {m.to}, this is {receiver}")
    check_wire_message(m, max_entries=limits.max_entries)
    return RaftFrame(m)


def _touches(body: Any, sender: int, receiver: int, limits: PeerLimits) -> Touches:
    if not isinstance(body, list) or len(body) != 2 or not isinstance(body[1], list):
        raise MalformedMessage("body is [batch_id, [session_id, ...]]")
    for sid in body[1]:
        if not isinstance(sid, str) or len(sid) > MAX_SESSION_ID:
            raise MalformedMessage(f"session ids are strings of at most {MAX_SESSION_ID} characters")
    return Touches(_id("batch_id", body[0]), tuple(body[1]))


def _touches_ack(body: Any, sender: int, receiver: int, limits: PeerLimits) -> TouchesAck:
    return TouchesAck(_id("batch_id", body))


def _status_ask(body: Any, sender: int, receiver: int, limits: PeerLimits) -> StatusAsk:
    if not isinstance(body, list) or len(body) != 2:
        raise MalformedMessage("body is [from_id, round_id]")
    if _id("from_id", body[0]) != sender:
        raise MalformedMessage(f"status request claims to be from {body[0]}, the connection is {sender}")
    return StatusAsk(_id("round_id", body[1]))


def _status_answer(body: Any, sender: int, receiver: int, limits: PeerLimits) -> StatusAnswer:
    if not isinstance(body, list) or len(body) != 2 or not isinstance(body[1], dict):
        raise MalformedMessage("body is [round_id, {status}]")
    status = body[1]
    if len(status) > MAX_STATUS_FIELDS:
        raise MalformedMessage(f"a status has at most {MAX_STATUS_FIELDS} fields")
    for key, value in status.items():
        if not isinstance(key, str) or len(key) > 64 or not _status_value_ok(value):
            raise MalformedMessage(f"status field {key!r:.70} is not a short name with a scalar value")
    if status.get("id") != sender or type(status.get("id")) is not int:
        raise MalformedMessage(f"status claims to be node {status.get('id')!r:.30}, the connection is {sender}")
    return StatusAnswer(_id("round_id", body[0]), status)


def _status_value_ok(value: Any) -> bool:
    if value is None or isinstance(value, (bool, float)):
        return True
    if type(value) is int:
        return -INT64_LIMIT <= value < INT64_LIMIT
    return isinstance(value, str) and len(value) <= MAX_STATUS_TEXT


def _id(name: str, value: Any) -> int:
    if type(value) is not int or not 0 <= value < INT64_LIMIT:
        raise MalformedMessage(f"{name} must be an int in 0..2**63-1, got {value!r:.30}")
    return value


_PARSERS: dict[str, Callable[[Any, int, int, PeerLimits], PeerFrame]] = {
    RAFT: _raft,
    TOUCH: _touches,
    TOUCH_ACK: _touches_ack,
    STATUS_REQ: _status_ask,
    STATUS_RESP: _status_answer,
}

__all__ = [
    "RAFT", "TOUCH", "TOUCH_ACK", "STATUS_REQ", "STATUS_RESP",
    "PeerLimits", "PeerFrame", "RaftFrame", "Touches", "TouchesAck", "StatusAsk", "StatusAnswer",
    "encode_raft", "encode_peer", "parse_peer_frame",
]
