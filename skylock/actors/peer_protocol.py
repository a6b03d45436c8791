"""What nodes say to each other over the peer transport besides Raft itself.

Each payload is a msgpack list ``[kind, body]``: Raft messages, session
heartbeats a follower forwards to the leader (and the leader's acknowledgement),
and status rounds.
"""

from __future__ import annotations

from typing import Any

import msgpack

from skylock.raft.types import Message, MessageType, message_from_wire, message_to_wire

RAFT = "raft"
TOUCH = "touch"
TOUCH_ACK = "touched"
STATUS_REQ = "status?"
STATUS_RESP = "status!"


def encode_raft(message: Message) -> bytes:
    return msgpack.packb([RAFT, message_to_wire(message)], use_bin_type=True)


def is_snapshot(payload: bytes) -> bool:
    """Whether an encoded payload is a Raft InstallSnapshot, without decoding it (payloads
    start with the kind and the message type, so a prefix of any SNAP encoding says it)."""
    return payload.startswith(_SNAPSHOT_PREFIX)


def encode_peer(kind: str, body: Any) -> bytes:
    return msgpack.packb([kind, body], use_bin_type=True)


#: The first bytes of every encoded SNAP: fixarray(2), "raft", the message's array header, and
#: its type (a one-byte fixint); the rest of the message varies.
_SNAPSHOT_PREFIX = encode_raft(Message(MessageType.SNAP))[:8]


def decode_peer(payload: bytes) -> tuple[str, Any]:
    """Raises ValueError on anything that is not a well-formed peer payload."""
    try:
        kind, body = msgpack.unpackb(payload, raw=False, strict_map_key=False)
    except Exception as exc:  # noqa: BLE001 - msgpack raises several types
        raise ValueError(f"malformed peer payload: {exc}") from exc
    if kind == RAFT:
        return kind, message_from_wire(body)
    if kind in (TOUCH, TOUCH_ACK, STATUS_REQ, STATUS_RESP):
        return kind, body
    raise ValueError(f"unknown peer payload kind {kind!r}")
