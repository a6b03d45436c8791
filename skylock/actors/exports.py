"""Snapshot exports: a backup of the whole state, held while a client downloads it.

``skylock snapshot save`` asks the leader for ``snapshot.begin``: the Store encodes its
state at its applied index (after a ReadIndex barrier, so the backup holds every write
acknowledged before the request) and keeps the bytes here under an unguessable id. The
client then reads them with ``snapshot.chunk`` in pieces of ``CHUNK_SIZE``, so a
snapshot of any size fits the client protocol's frame and backlog limits. The export is
released when its last chunk is served, or after ``IDLE_TIMEOUT`` without a read.

An export is memory a client makes the node hold, so it is bounded: at most
``MAX_EXPORTS`` at once, a new one past that is refused with ``LimitExceeded``.
Owned by the Store actor (one thread); ``now`` is passed in so the rules are testable.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from skylock.errors import BadRequest, LimitExceeded, NoNode

#: Bytes per ``snapshot.chunk`` reply: far below the client's largest reply (64 MiB) and
#: the node's per-connection backlog (``server.max_backlog_bytes``, 16 MiB by default).
CHUNK_SIZE = 1 << 20
#: Exports held at once (each is a full copy of the state).
MAX_EXPORTS = 2
#: Seconds an export is kept without a chunk being read.
IDLE_TIMEOUT = 30.0


@dataclass(slots=True)
class _Export:
    data: bytes
    last_read: float


class SnapshotExports:
    def __init__(self, *, max_exports: int = MAX_EXPORTS, idle_timeout: float = IDLE_TIMEOUT,
                 chunk_size: int = CHUNK_SIZE) -> None:
        self.max_exports = max_exports
        self.idle_timeout = idle_timeout
        self.chunk_size = chunk_size
        self._held: dict[str, _Export] = {}

    def __len__(self) -> int:
        return len(self._held)

    def begin(self, data: bytes, *, index: int, term: int, now: float) -> dict[str, Any]:
        """Hold ``data`` (the state at ``index``, of ``term``); the reply describes it."""
        self.sweep(now)
        if len(self._held) >= self.max_exports:
            raise LimitExceeded(f"{len(self._held)} snapshot downloads are in progress on this node, the "
                                f"limit; try again when one ends (an abandoned one ends after "
                                f"{self.idle_timeout:g}s)", limit="snapshot exports")
        export_id = secrets.token_hex(16)
        self._held[export_id] = _Export(data, now)
        return {"export_id": export_id, "index": index, "term": term, "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(), "chunk_size": self.chunk_size}

    def chunk(self, export_id: str, offset: int, *, now: float) -> dict[str, Any]:
        """The bytes from ``offset`` on (at most ``chunk_size``); the last one releases the export."""
        self.sweep(now)
        export = self._held.get(export_id)
        if export is None:
            raise NoNode(f"no snapshot download {export_id[:40]!r} on this node: it ended, expired after "
                         f"{self.idle_timeout:g}s idle, or began on another node; start again")
        if offset > len(export.data):
            raise BadRequest(f"offset {offset} is past the end of the snapshot ({len(export.data)} bytes)")
        export.last_read = now
        data = export.data[offset:offset + self.chunk_size]
        if offset + len(data) >= len(export.data):
            del self._held[export_id]
        return {"data": data}

    def sweep(self, now: float) -> None:
        """Release the exports nobody has read from for ``idle_timeout`` seconds."""
        for export_id in [k for k, e in self._held.items() if now - e.last_read >= self.idle_timeout]:
            del self._held[export_id]
