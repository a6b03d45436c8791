"""The lock recipe, run inside the state machine.

A lock is the ZooKeeper recipe: under ``/locks/{name}`` each contender owns an
ephemeral sequential node ``lock-NNNNNNNNNN``; the lowest sequence holds the
lock and each waiter's predecessor is the next lower one (no herd). The queue
*is* the tree, so there is no second copy of lock state to keep in step: a
session's expiry, which deletes its ephemerals, releases its locks for free.
The tree itself keeps an index of each lock's queue (``lock_queues``), derived
from the nodes and never stored, so that a lock operation costs O(1) however
long its queue is.
The fencing token is the lock node's czxid, which grows with every grant.

Everything in the tree is public (anyone can read ``/locks``), so a queued
node shows only its *entry* name, the owner label and the session's public id.
The ``lock_id`` handed to the acquirer is ``{entry}.{mac}``, the mac being a
keyed hash of the lock and entry under the owning session's secret: a bearer
credential that releases the entry on its own (REST's ``DELETE`` sends nothing
else), which nobody can derive from what the tree or ``lock.info`` show.
Replicas recompute the same mac, so it needs no storage.

Lock-delay (Chubby's, Consul's): an entry acquired with ``lock_delay_ms`` > 0 whose
session *expires* while it holds the lock leaves a ``delay`` node in the lock's
directory, and while that node exists nobody holds the lock: the old holder may
still be acting on it (a paused process, a partitioned client). The state knows
no clocks, so the delay ends only by a ``lock_delay_end`` command, which the
leader's LockManager proposes once the delay has passed. An explicit release or
session close is a clean hand-over and starts no delay.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable
from hashlib import sha256
from typing import Any

import msgpack

from skylock.errors import BadRequest, NoNode, NotOwner

from .events import EventType, WatchEvent
from .journal import Txn
from .lock_queues import ENTRY, LOCKS_ROOT, LockQueues
from .paths import split_path
from .sessions import SessionTable
from .tree import DataTree, Node

LOCK_PREFIX = "lock-"
#: The node that marks a lock as delayed (never a contender: it is not ``lock-NNNNNNNNNN``).
DELAY_NODE = "delay"
#: The longest lock-delay an acquire may ask for (Consul's bound): a longer one would leave a
#: lock unusable for long after a crash.
MAX_LOCK_DELAY_MS = 60_000
_LOCK_NAME = re.compile(r"[A-Za-z0-9_.:@-]{1,128}")
#: A lock id as handed out; the mac part is checked separately so that a bare entry name
#: (what ``lock.info`` shows) is refused as ``NotOwner``, not as malformed.
_LOCK_ID = re.compile(r"(lock-[0-9]{10})(?:\.([0-9a-f]*))?")
MAC_HEX_DIGITS = 32


def validate_lock_name(name: object) -> str:
    if not isinstance(name, str) or not _LOCK_NAME.fullmatch(name) or name in (".", ".."):
        raise BadRequest(f"bad lock name {name!r}: use 1-128 of A-Z a-z 0-9 _ . : @ -", name=str(name))
    return name


def validate_lock_id(lock_id: object) -> str:
    """The entry name a well-formed lock id names (``lock-NNNNNNNNNN``, with or without its
    ``.mac`` suffix); ``BadRequest`` otherwise. Whether the mac is right is the owner check's job."""
    match = _LOCK_ID.fullmatch(lock_id) if isinstance(lock_id, str) else None
    if match is None:
        shown = str(lock_id)[:60]
        raise BadRequest(f"bad lock id {shown!r}: expected {LOCK_PREFIX}, 10 digits and its mac", lock_id=shown)
    return match.group(1)


def new_tree() -> DataTree:
    """An empty data tree that keeps the lock queues this module reads."""
    return DataTree(indexes=[LockQueues()])


def lock_dir(name: str) -> str:
    return f"{LOCKS_ROOT}/{name}"


def lock_name_of(path: str) -> str | None:
    """The lock a node path belongs to, if it is a lock node or a lock's delay node."""
    parent, entry_name = split_path(path)
    grand, name = split_path(parent)
    if grand == LOCKS_ROOT and (ENTRY.fullmatch(entry_name) or entry_name == DELAY_NODE):
        return name
    return None


def changed_by(events: Iterable[WatchEvent]) -> dict[str, set[str]]:
    """The locks ``events`` touched, each with the entries they deleted from its queue."""
    changed: dict[str, set[str]] = {}
    for ev in events:
        name = lock_name_of(ev.path)
        if name is None:
            continue
        left = changed.setdefault(name, set())
        if ev.type == EventType.DELETED:
            left.add(split_path(ev.path)[1])
    return changed


def contenders(tree: DataTree, name: str) -> list[str]:
    """Entry names queued on ``name``, lowest (the holder) first.

    Only ephemeral ``lock-NNNNNNNNNN`` children count, so stray nodes written
    there by hand can neither hold nor block a lock.
    """
    return _queues(tree).entries(lock_dir(name))


def holder_id(tree: DataTree, name: str) -> str | None:
    """The entry holding ``name``: the first contender, unless the lock is delayed."""
    if _delay_node(tree, name) is not None:
        return None
    return _queues(tree).first(lock_dir(name))


def delay(tree: DataTree, name: str) -> dict[str, Any] | None:
    """The lock's pending delay ``{"lock_delay_ms", "entry", "since"}``, or None. ``since``
    (the zxid that started it) names this delay, so that ending it twice, or a later delay
    by mistake, is impossible."""
    node = _delay_node(tree, name)
    if node is None:
        return None
    record = _record(node)
    return {"lock_delay_ms": int(record.get("lock_delay_ms", 0)), "entry": str(record.get("entry", "")),
            "since": node.czxid}


def delay_if_held(tree: DataTree, txn: Txn, path: str) -> None:
    """Called for each ephemeral of an *expiring* session before it is deleted: if ``path``
    is the holding entry of a lock acquired with a lock-delay, mark that lock delayed."""
    name = lock_name_of(path)
    if name is None:
        return
    entry_name = split_path(path)[1]
    if entry_name == DELAY_NODE or holder_id(tree, name) != entry_name:
        return
    delay_ms = int(_record(tree.nodes[path]).get("lock_delay_ms", 0))
    if delay_ms > 0:
        record = msgpack.packb({"lock_delay_ms": delay_ms, "entry": entry_name}, use_bin_type=True)
        tree.create(txn, f"{lock_dir(name)}/{DELAY_NODE}", record)


def end_delay(tree: DataTree, txn: Txn, *, name: str, since: int) -> dict[str, Any]:
    """End the delay of ``name`` that zxid ``since`` started; a no-op if it has ended already
    (two leaders may both propose it). Reports the holder it lets in, if any."""
    validate_lock_name(name)
    pending = delay(tree, name)
    if pending is None or pending["since"] != since:
        return {"ended": False, "next_holder": None}
    tree.delete(txn, f"{lock_dir(name)}/{DELAY_NODE}")
    return {"ended": True, "next_holder": _new_holder(tree, name)}


def lock_id_for(session_id: str, name: str, entry_name: str) -> str:
    """The lock id handed to the session whose secret is ``session_id`` for its entry
    ``entry_name`` of lock ``name``."""
    mac = hmac.new(session_id.encode(), f"{name}/{entry_name}".encode(), sha256).hexdigest()
    return f"{entry_name}.{mac[:MAC_HEX_DIGITS]}"


def entry(tree: DataTree, name: str, entry_name: str) -> dict[str, Any]:
    """The public description of one queued lock node: never its lock id."""
    node = tree.nodes[f"{lock_dir(name)}/{entry_name}"]
    return {"entry": entry_name, "owner": _record(node).get("owner", ""),
            "session": node.ephemeral_owner, "token": node.czxid}


def info(tree: DataTree, name: str) -> dict[str, Any]:
    validate_lock_name(name)
    holder = holder_id(tree, name)
    queue = [entry(tree, name, entry_name) for entry_name in contenders(tree, name)]
    result = {"name": name, "holder": queue[0] if holder is not None else None,
              "waiters": queue[1:] if holder is not None else queue}
    pending = delay(tree, name)
    if pending is not None:
        result["delay"] = pending  # only while delayed: nobody holds the lock until it ends
    return result


def standing(tree: DataTree, name: str) -> tuple[str | None, dict[str, Any] | None, int]:
    """``(holder entry, pending delay, entries queued)`` of a lock, in O(1) of its queue: enough
    to follow a lock after each change, where ``info`` lists the whole queue."""
    return holder_id(tree, name), delay(tree, name), _queues(tree).count(lock_dir(name))


def held_by(tree: DataTree, public_id: str) -> list[dict[str, Any]]:
    """The lock entries of the session with ``public_id``: each lock's name, the entry,
    its fencing token and whether it holds the lock (else it waits). Public, like ``info``."""
    found = []
    for path in tree.ephemerals_of(public_id):
        name = lock_name_of(path)
        if name is not None:
            entry_name = split_path(path)[1]
            found.append({"name": name, "entry": entry_name, "token": tree.nodes[path].czxid,
                          "held": holder_id(tree, name) == entry_name})
    return found


def acquire(
    tree: DataTree, sessions: SessionTable, txn: Txn, *,
    name: str, session_id: str, owner: str, request_id: str | int, lock_delay_ms: int = 0,
) -> dict[str, Any]:
    """Enqueue the session on the lock, or return its existing node (retry / re-entry).
    ``lock_delay_ms``: how long the lock stays ungranted if this entry's session expires
    while holding it (see the module docstring); a re-entry keeps the first acquire's."""
    validate_lock_name(name)
    if not 0 <= lock_delay_ms <= MAX_LOCK_DELAY_MS:
        raise BadRequest(f"lock_delay_ms must be from 0 to {MAX_LOCK_DELAY_MS}, not {lock_delay_ms}",
                         lock_delay_ms=lock_delay_ms)
    session = sessions.require(session_id)
    directory = lock_dir(name)
    for path in (LOCKS_ROOT, directory):
        if tree.node(path) is None:
            tree.create(txn, path, b"")
    queues = _queues(tree)
    mine = queues.entry_of(directory, session.public_id)
    if mine is None:
        fields: dict[str, Any] = {"owner": owner, "session": session.public_id, "request_id": request_id}
        if lock_delay_ms:
            fields["lock_delay_ms"] = lock_delay_ms
        record = msgpack.packb(fields, use_bin_type=True)
        path, _ = tree.create(txn, f"{directory}/{LOCK_PREFIX}", record,
                              ephemeral_owner=session.public_id, sequential=True)
        mine = split_path(path)[1]
    return {
        "lock_id": lock_id_for(session.session_id, name, mine),
        "entry": mine,
        "token": tree.nodes[f"{directory}/{mine}"].czxid,
        "holder": holder_id(tree, name) == mine,
        "predecessor": queues.predecessor(directory, mine),
    }


def release(
    tree: DataTree, sessions: SessionTable, txn: Txn, *, name: str, session_id: str | None, lock_id: str,
) -> dict[str, Any]:
    """Remove a lock entry whose full lock id (mac included) the caller presents, and, if it
    names one, only when ``session_id`` owns it; report who holds the lock now if that changed.

    The lock id alone is enough (REST sends only it): its mac proves that the caller got it
    from the acquire's reply. An entry name without the mac (all ``lock.info`` shows) is
    ``NotOwner`` and changes nothing."""
    validate_lock_name(name)
    entry_name = validate_lock_id(lock_id)
    path = f"{lock_dir(name)}/{entry_name}"
    node = tree.node(path)
    if node is None or not node.ephemeral_owner:
        raise NoNode(f"lock {name} has no entry {entry_name}", path=path)
    owner = sessions.by_public(node.ephemeral_owner)
    if (owner is None or (session_id is not None and session_id != owner.session_id)
            or not hmac.compare_digest(lock_id, lock_id_for(owner.session_id, name, entry_name))):
        raise NotOwner(f"entry {entry_name} of lock {name} is not yours: releasing it takes the lock id "
                       "its acquire returned (and, if a session id is given, the owning session's)",
                       name=name, entry=entry_name)
    was_holder = holder_id(tree, name) == entry_name
    tree.delete(txn, path)
    return {"released": lock_id, "next_holder": _new_holder(tree, name) if was_holder else None}


def check_held(tree: DataTree, sessions: SessionTable, *, name: str, token: int, session_id: str) -> None:
    """Raise ``NotOwner`` unless the session whose secret is ``session_id`` holds ``name``
    with fencing ``token``."""
    validate_lock_name(name)
    current = holder_id(tree, name)
    session = sessions.get(session_id)
    if current is not None and session is not None:
        held = entry(tree, name, current)
        if held["session"] == session.public_id and held["token"] == token:
            return
    raise NotOwner(f"session {session_id} does not hold lock {name} with token {token}",
                   name=name, token=token)


def grants_after(tree: DataTree, before: dict[str, str | None]) -> list[dict[str, Any]]:
    """New holders of the locks whose holders were ``before`` (name -> entry name)."""
    grants = []
    for name in sorted(before):
        now = holder_id(tree, name)
        if now is not None and now != before[name]:
            grants.append({"name": name, "holder": entry(tree, name, now)})
    return grants


def _new_holder(tree: DataTree, name: str) -> dict[str, Any] | None:
    current = holder_id(tree, name)
    return entry(tree, name, current) if current is not None else None


def _queues(tree: DataTree) -> LockQueues:
    return tree.index(LockQueues)


def _delay_node(tree: DataTree, name: str) -> Node | None:
    """The node that marks ``name`` delayed, if any (a hand-written ephemeral one does not)."""
    node = tree.node(f"{lock_dir(name)}/{DELAY_NODE}")
    return node if node is not None and not node.ephemeral_owner else None


def _record(node: Node) -> dict[str, Any]:
    try:
        record = msgpack.unpackb(node.data, raw=False)
    except Exception:  # a hand-written node: no owner recorded
        return {}
    return record if isinstance(record, dict) else {}
