"""What nodes say to each other over the peer transport besides Raft itself.

Each payload is a msgpack list ``[kind, body]``: Raft messages, session
heartbeats a follower forwards to the leader (and the leader's acknowledgement),
and status rounds.
"""

from __future__ import annotations

from typing import Any

import msgpack

from skylock.raft.types import Message, message_from_wire, message_to_wire

RAFT = "raft"
TOUCH = "touch"
TOUCH_ACK = "touched"
STATUS_REQ = "status?"
STATUS_RESP = "status!"


def encode_raft(message: Message) -> bytes:
    return msgpack.packb([RAFT, message_to_wire(message)], use_bin_type=True)


def encode_peer(kind: str, body: Any) -> bytes:
    return msgpack.packb([kind, body], use_bin_type=True)


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
