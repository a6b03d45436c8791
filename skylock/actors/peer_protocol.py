"""What nodes say to each other over the peer transport, as the actors see it.

The wire format and its validation live in ``skylock.net.peer_codec``; this module
keeps the names the actors send with. Frames from the network are parsed (and
checked against their connection) by ``peer_codec.parse_peer_frame`` only.
"""

from __future__ import annotations

from typing import Any

from skylock.errors import BadRequest
from skylock.net.codec import decode
from skylock.net.peer_codec import RAFT, STATUS_REQ, STATUS_RESP, TOUCH, TOUCH_ACK, encode_peer, encode_raft
from skylock.raft.types import Message, MessageType, message_from_wire

__all__ = ["RAFT", "TOUCH", "TOUCH_ACK", "STATUS_REQ", "STATUS_RESP", "encode_raft", "encode_peer", "decode_peer",
           "is_snapshot"]


#: The first bytes of every encoded SNAP: fixarray(2), "raft", the message's array header, and
#: its type (a one-byte fixint); the rest of the message varies.
_SNAPSHOT_PREFIX = encode_raft(Message(MessageType.SNAP))[:8]


def is_snapshot(payload: bytes) -> bool:
    """Whether an encoded payload is a Raft InstallSnapshot, without decoding it (payloads
    start with the kind and the message type, so a prefix of any SNAP encoding says it)."""
    return payload.startswith(_SNAPSHOT_PREFIX)


def decode_peer(payload: bytes) -> tuple[str, Any]:
    """Read back a payload this node encoded (tests, tools): its kind and body.

    Checks structure only, not who may send it: never use it on frames from the network.
    Raises ValueError on anything that is not a well-formed peer payload.
    """
    try:
        kind, body = decode(payload)
    except (BadRequest, TypeError, ValueError) as exc:
        raise ValueError(f"malformed peer payload: {exc}") from exc
    if kind == RAFT:
        return kind, message_from_wire(body)
    if kind in (TOUCH, TOUCH_ACK, STATUS_REQ, STATUS_RESP):
        return kind, body
    raise ValueError(f"unknown peer payload kind {kind!r}")
