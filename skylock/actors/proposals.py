"""The envelope around every command in the log: who proposed it and for which request.

Every node applies every entry; the node whose id is ``origin`` also answers the
client that asked (``tag`` finds it in that node's ``PendingRequests``). That is
how a write sent to a follower is answered by the node the client is on.
"""

from __future__ import annotations

from typing import Any

import msgpack


def encode_proposal(origin: int, tag: int, command: dict[str, Any]) -> bytes:
    return msgpack.packb([origin, tag, command], use_bin_type=True)


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
