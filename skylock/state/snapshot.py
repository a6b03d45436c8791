"""Snapshot encoding: the whole state as canonical bytes.

Canonical (sorted, fixed field order) so that equal states give equal bytes:
the same encoding serves as the snapshot a follower installs and as the input
of the state hash that proves replicas agree.
"""

from __future__ import annotations

from typing import Any

import msgpack

from skylock.errors import BadRequest

from .auth import AuthTable
from .locks import new_tree
from .sessions import Session, SessionTable
from .tree import DataTree, Node

#: 2: sessions carry a public id, and ephemeral owners are public ids (format 1 had one id
#: that was both name and credential; such snapshots are refused, not converted).
#: 3: adds the auth table (users, roles, grants); a format 2 snapshot reads as an empty one.
FORMAT_VERSION = 3
_READABLE = (2, 3)


def encode(tree: DataTree, sessions: SessionTable, auth: AuthTable, last_zxid: int) -> bytes:
    nodes = [
        [path, n.data, n.czxid, n.mzxid, n.pzxid, n.ctime, n.mtime,
         n.version, n.cversion, n.ephemeral_owner, n.seq]
        for path, n in sorted(tree, key=lambda item: item[0])
    ]
    table = [[s.session_id, s.public_id, s.client_id, s.ttl_ms] for s in sessions.all()]
    state: dict[str, Any] = {"format": FORMAT_VERSION, "last_zxid": last_zxid, "nodes": nodes, "sessions": table,
                             "auth": auth.to_wire()}
    return msgpack.packb(state, use_bin_type=True)


def decode(data: bytes) -> tuple[DataTree, SessionTable, AuthTable, int]:
    """Rebuild fresh state from snapshot bytes; ``BadRequest`` if they are not a snapshot."""
    try:
        state = msgpack.unpackb(data, raw=False)
        if state["format"] not in _READABLE:
            raise BadRequest(f"unsupported snapshot format {state['format']!r}")
        tree = new_tree()
        for path, data_, czxid, mzxid, pzxid, ctime, mtime, version, cversion, owner, seq in state["nodes"]:
            node = Node(bytes(data_), czxid, ctime, owner)
            node.mzxid, node.pzxid, node.mtime = mzxid, pzxid, mtime
            node.version, node.cversion, node.seq = version, cversion, seq
            tree.insert_restored(path, node)
        tree.link_restored()
        sessions = SessionTable()
        for session_id, public_id, client_id, ttl_ms in state["sessions"]:
            sessions.insert_restored(Session(session_id, public_id, client_id, ttl_ms))
        auth = AuthTable.from_wire(state["auth"]) if state["format"] >= 3 else AuthTable()
        return tree, sessions, auth, int(state["last_zxid"])
    except BadRequest:
        raise
    except Exception as exc:
        raise BadRequest(f"not a valid snapshot: {exc.__class__.__name__}: {exc}") from None
