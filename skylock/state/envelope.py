"""What wraps the state machine's inputs and outputs on their way through Raft.

- The **entry envelope**: every command in the log travels as ``[origin, tag, command]``.
  Every node applies every entry; the node whose id is ``origin`` also answers the client
  that asked (``tag`` names the request in that node's proposal table). That is how a write
  sent to a follower is answered by the node the client is on, and (with ``AppliedTags``)
  how a proposal sent twice is applied once.
- The **snapshot envelope**: the state machine's own snapshot plus the ``AppliedTags`` table,
  which is replicated state too (every node must skip the same duplicates).
"""

from __future__ import annotations

from typing import Any

import msgpack

from .applied_tags import AppliedTags

SNAPSHOT_ENVELOPE_VERSION = 1


def encode_entry(origin: int, tag: int, command: dict[str, Any]) -> bytes:
    return msgpack.packb([origin, tag, command], use_bin_type=True)


def decode_entry(data: bytes) -> tuple[int, int, dict[str, Any]] | None:
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


def encode_snapshot(machine_snapshot: bytes, tags: AppliedTags) -> bytes:
    return msgpack.packb([SNAPSHOT_ENVELOPE_VERSION, machine_snapshot, tags.to_wire()], use_bin_type=True)


def decode_snapshot(data: bytes) -> tuple[bytes, AppliedTags]:
    version, machine_snapshot, tags = msgpack.unpackb(data, raw=False, strict_map_key=False)
    if version != SNAPSHOT_ENVELOPE_VERSION:
        raise ValueError(f"unknown store snapshot version {version}")
    return bytes(machine_snapshot), AppliedTags.from_wire(tags)
