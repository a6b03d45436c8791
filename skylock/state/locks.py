"""The lock recipe, run inside the state machine.

A lock is the ZooKeeper recipe: under ``/locks/{name}`` each contender owns an
ephemeral sequential node ``lock-NNNNNNNNNN``; the lowest sequence holds the
lock and each waiter's predecessor is the next lower one (no herd). The queue
*is* the tree, so there is no second copy of lock state to keep in step: a
session's expiry, which deletes its ephemerals, releases its locks for free.
The fencing token is the lock node's czxid, which grows with every grant.
"""

from __future__ import annotations

import re
from typing import Any

import msgpack

from skylock.errors import BadRequest, NoNode, NotOwner, SessionExpired

from .journal import Txn
from .paths import split_path
from .sessions import SessionTable
from .tree import DataTree, Node

LOCKS_ROOT = "/locks"
LOCK_PREFIX = "lock-"
_LOCK_NAME = re.compile(r"[A-Za-z0-9_.:@-]{1,128}")
_LOCK_ID = re.compile(r"lock-[0-9]{10}")


def validate_lock_name(name: object) -> str:
    if not isinstance(name, str) or not _LOCK_NAME.fullmatch(name) or name in (".", ".."):
        raise BadRequest(f"bad lock name {name!r}: use 1-128 of A-Z a-z 0-9 _ . : @ -", name=str(name))
    return name


def validate_lock_id(lock_id: object) -> str:
    if not isinstance(lock_id, str) or not _LOCK_ID.fullmatch(lock_id):
        raise BadRequest(f"bad lock id {lock_id!r}: expected {LOCK_PREFIX} and 10 digits", lock_id=str(lock_id))
    return lock_id


def lock_dir(name: str) -> str:
    return f"{LOCKS_ROOT}/{name}"


def lock_name_of(path: str) -> str | None:
    """The lock a node path belongs to, if it is a lock node."""
    parent, lock_id = split_path(path)
    grand, name = split_path(parent)
    if grand == LOCKS_ROOT and _LOCK_ID.fullmatch(lock_id):
        return name
    return None


def contenders(tree: DataTree, name: str) -> list[str]:
    """Lock ids queued on ``name``, lowest (the holder) first.

    Only ephemeral ``lock-NNNNNNNNNN`` children count, so stray nodes written
    there by hand can neither hold nor block a lock.
    """
    directory = tree.node(lock_dir(name))
    if directory is None:
        return []
    prefix = lock_dir(name) + "/"
    return sorted(
        child for child in directory.children
        if _LOCK_ID.fullmatch(child) and tree.nodes[prefix + child].ephemeral_owner
    )


def holder_id(tree: DataTree, name: str) -> str | None:
    queue = contenders(tree, name)
    return queue[0] if queue else None


def entry(tree: DataTree, name: str, lock_id: str) -> dict[str, Any]:
    """The public description of one queued lock node."""
    node = tree.nodes[f"{lock_dir(name)}/{lock_id}"]
    return {"lock_id": lock_id, "owner": _record(node).get("owner", ""),
            "session_id": node.ephemeral_owner, "token": node.czxid}


def info(tree: DataTree, name: str) -> dict[str, Any]:
    validate_lock_name(name)
    queue = [entry(tree, name, lock_id) for lock_id in contenders(tree, name)]
    return {"name": name, "holder": queue[0] if queue else None, "waiters": queue[1:]}


def acquire(
    tree: DataTree, sessions: SessionTable, txn: Txn, *,
    name: str, session_id: str, owner: str, request_id: str | int,
) -> dict[str, Any]:
    """Enqueue the session on the lock, or return its existing node (retry / re-entry)."""
    validate_lock_name(name)
    if session_id not in sessions:
        raise SessionExpired(f"session {session_id} is not open", session_id=session_id)
    directory = lock_dir(name)
    for path in (LOCKS_ROOT, directory):
        if tree.node(path) is None:
            tree.create(txn, path, b"")
    mine = _session_node(tree, directory, session_id)
    if mine is None:
        record = msgpack.packb({"owner": owner, "session_id": session_id, "request_id": request_id},
                               use_bin_type=True)
        path, _ = tree.create(txn, f"{directory}/{LOCK_PREFIX}", record,
                              ephemeral_owner=session_id, sequential=True)
        mine = split_path(path)[1]
    queue = contenders(tree, name)
    position = queue.index(mine)
    return {
        "lock_id": mine,
        "token": tree.nodes[f"{directory}/{mine}"].czxid,
        "holder": position == 0,
        "predecessor": queue[position - 1] if position else None,
    }


def release(tree: DataTree, txn: Txn, *, name: str, session_id: str, lock_id: str) -> dict[str, Any]:
    """Remove the session's own lock node; report who holds the lock now if that changed."""
    validate_lock_name(name)
    validate_lock_id(lock_id)
    path = f"{lock_dir(name)}/{lock_id}"
    node = tree.node(path)
    if node is None:
        raise NoNode(f"lock {name} has no entry {lock_id}", path=path)
    if node.ephemeral_owner != session_id:
        raise NotOwner(f"{lock_id} of lock {name} is not owned by session {session_id}",
                       name=name, lock_id=lock_id)
    was_holder = holder_id(tree, name) == lock_id
    tree.delete(txn, path)
    return {"released": lock_id, "next_holder": _new_holder(tree, name) if was_holder else None}


def check_held(tree: DataTree, *, name: str, token: int, session_id: str) -> None:
    """Raise ``NotOwner`` unless ``session_id`` holds ``name`` with fencing ``token``."""
    validate_lock_name(name)
    current = holder_id(tree, name)
    if current is not None:
        held = entry(tree, name, current)
        if held["session_id"] == session_id and held["token"] == token:
            return
    raise NotOwner(f"session {session_id} does not hold lock {name} with token {token}",
                   name=name, token=token)


def grants_after(tree: DataTree, before: dict[str, str | None]) -> list[dict[str, Any]]:
    """New holders of the locks whose holders were ``before`` (name -> lock id)."""
    grants = []
    for name in sorted(before):
        now = holder_id(tree, name)
        if now is not None and now != before[name]:
            grants.append({"name": name, "holder": entry(tree, name, now)})
    return grants


def _new_holder(tree: DataTree, name: str) -> dict[str, Any] | None:
    current = holder_id(tree, name)
    return entry(tree, name, current) if current is not None else None


def _session_node(tree: DataTree, directory: str, session_id: str) -> str | None:
    for path in tree.ephemerals_of(session_id):
        parent, lock_id = split_path(path)
        if parent == directory and _LOCK_ID.fullmatch(lock_id):
            return lock_id
    return None


def _record(node: Node) -> dict[str, Any]:
    try:
        record = msgpack.unpackb(node.data, raw=False)
    except Exception:  # a hand-written node: no owner recorded
        return {}
    return record if isinstance(record, dict) else {}
