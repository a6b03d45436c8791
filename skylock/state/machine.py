"""The replicated state machine: one deterministic ``apply`` per committed log entry.

Every node feeds the same commands in the same order and so reaches the same
state. ``apply`` never raises for bad input: a failing or malformed command is
rolled back through the undo log and reported as ``Applied.error``, because a
committed entry must never crash (or diverge) a replica.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any, Callable

from skylock.errors import BadRequest, InternalError, SessionExpired, SkyLockError, TooLarge

from . import commands, locks, snapshot
from .auth import AuthTable, AuthView
from .events import EventType, WatchEvent
from .journal import Txn, UndoLog
from .paths import validate_path
from .sessions import Session, SessionTable, public_id_for, validate_session_id
from .stat import Stat
from .tree import SEQUENCE_DIGITS

DEFAULT_MAX_DATA_SIZE = 1 << 20


@dataclass(frozen=True, slots=True)
class Applied:
    """Outcome of one entry: a result or an error, and the watch events it caused."""

    result: dict[str, Any] | None
    error: SkyLockError | None = None
    events: list[WatchEvent] = field(default_factory=list)


class StateMachine:
    def __init__(self, max_data_size: int = DEFAULT_MAX_DATA_SIZE) -> None:
        self.max_data_size = max_data_size
        self._tree = locks.new_tree()
        self._sessions = SessionTable()
        self._auth = AuthTable()
        self._undo = UndoLog()
        self._last_zxid = 0
        #: a handler's result, or None for an op whose answer carries nothing
        self._handlers: dict[str, Callable[[Txn, dict[str, Any]], dict[str, Any] | None]] = {
            "create": self._create,
            "set": self._set_data,
            "delete": self._delete,
            "check": self._check,
            "check_lock": self._check_lock,
            "multi": self._multi,
            "session.open": self._open_session,
            "session.close": self._close_session,
            "session.expire": self._expire_session,
            "lock.acquire": self._lock_acquire,
            "lock.release": self._lock_release,
            "lock.delay_end": lambda txn, a: locks.end_delay(self._tree, txn, name=a["name"], since=a["since"]),
            "noop": lambda txn, args: {},
            "auth.user_add": lambda txn, a: self._auth.user_add(txn, a["name"], a["token_sha256"]),
            "auth.user_delete": lambda txn, a: self._auth.user_delete(txn, a["name"]),
            "auth.user_grant_role": lambda txn, a: self._auth.user_grant_role(txn, a["name"], a["role"]),
            "auth.user_revoke_role": lambda txn, a: self._auth.user_revoke_role(txn, a["name"], a["role"]),
            "auth.role_add": lambda txn, a: self._auth.role_add(txn, a["name"]),
            "auth.role_delete": lambda txn, a: self._auth.role_delete(txn, a["name"]),
            "auth.role_grant": lambda txn, a: self._auth.role_grant(txn, a["name"], a["permission"], a["prefix"]),
            "auth.role_revoke": lambda txn, a: self._auth.role_revoke(txn, a["name"], a["permission"], a["prefix"]),
        }

    # ---- applying -----------------------------------------------------------

    @property
    def last_zxid(self) -> int:
        return self._last_zxid

    def apply(self, zxid: int, cmd: dict[str, Any]) -> Applied:
        """Apply the command of log entry ``zxid``; all of it or, on error, none of it."""
        if type(zxid) is not int or zxid <= self._last_zxid:
            return Applied(None, BadRequest(f"zxid {zxid!r} is not after {self._last_zxid}"), [])
        txn = Txn(zxid, 0, self._undo)
        try:
            op, args = commands.parse(cmd, allowed=commands.TOP_LEVEL_OPS)
            txn.now_ms = args.get("now_ms", 0)
            result = self._handlers[op](txn, args) or {}
        except SkyLockError as exc:
            return self._fail(zxid, exc)
        except Exception as exc:  # a bug, not bad input: still roll back and keep the replica alive
            return self._fail(zxid, InternalError(f"{exc.__class__.__name__}: {exc}"))
        self._undo.commit()
        self._last_zxid = zxid
        return Applied(result, None, txn.events)

    def _fail(self, zxid: int, error: SkyLockError) -> Applied:
        self._undo.rollback()
        self._last_zxid = zxid
        return Applied(None, error, [])

    # ---- data ops -----------------------------------------------------------

    def _create(self, txn: Txn, args: dict[str, Any]) -> dict[str, Any]:
        path, sequential = args["path"], args["sequential"]
        validate_path(path + "0" * SEQUENCE_DIGITS if sequential else path)
        self._check_size(args["data"])
        owner = ""
        if args["ephemeral"]:
            if args["session_id"] is None:
                raise SessionExpired("an ephemeral node needs an open session: give its session id")
            owner = self._sessions.require(args["session_id"]).public_id  # others see only this
        real_path, node = self._tree.create(txn, path, args["data"], ephemeral_owner=owner, sequential=sequential)
        return {"path": real_path, "stat": node.stat().to_wire()}

    def _set_data(self, txn: Txn, args: dict[str, Any]) -> dict[str, Any]:
        self._check_size(args["data"])
        node = self._tree.set_data(txn, validate_path(args["path"]), args["data"], args["version"])
        return {"stat": node.stat().to_wire()}

    def _delete(self, txn: Txn, args: dict[str, Any]) -> dict[str, Any]:
        self._tree.delete(txn, validate_path(args["path"]), args["version"])
        return {}

    def _check(self, txn: Txn, args: dict[str, Any]) -> dict[str, Any]:
        self._tree.check(validate_path(args["path"]), args["version"])
        return {}

    def _check_lock(self, txn: Txn, args: dict[str, Any]) -> dict[str, Any]:
        locks.check_held(self._tree, self._sessions, name=args["name"], token=args["token"],
                         session_id=args["session_id"])
        return {}

    def _multi(self, txn: Txn, args: dict[str, Any]) -> dict[str, Any]:
        results = []
        for index, op_cmd in enumerate(args["ops"]):
            try:
                op, op_args = commands.parse(op_cmd, allowed=commands.MULTI_OPS, now_ms=txn.now_ms)
                results.append(self._handlers[op](txn, op_args) or {})
            except SkyLockError as exc:
                exc.details["index"] = index
                raise
        return {"results": results}

    def _check_size(self, data: bytes) -> None:
        if len(data) > self.max_data_size:
            raise TooLarge(f"data is {len(data)} bytes, the limit is {self.max_data_size}",
                           size=len(data), limit=self.max_data_size)

    # ---- sessions -----------------------------------------------------------

    def _open_session(self, txn: Txn, args: dict[str, Any]) -> dict[str, Any]:
        sid = args["session_id"]
        existing = self._sessions.get(sid)
        if existing is None:
            validate_session_id(sid)
            if args["ttl_ms"] <= 0:
                raise BadRequest(f"ttl_ms must be positive, not {args['ttl_ms']}")
            existing = Session(sid, public_id_for(txn.zxid), args["client_id"], args["ttl_ms"])
            self._sessions.open(txn, existing)
        return {"session_id": existing.session_id, "public_id": existing.public_id, "ttl_ms": existing.ttl_ms}

    def _close_session(self, txn: Txn, args: dict[str, Any]) -> dict[str, Any]:
        return self._end_sessions(txn, [self._sessions.require(args["session_id"]).session_id], "closed")

    def _expire_session(self, txn: Txn, args: dict[str, Any]) -> dict[str, Any]:
        ids = args["session_ids"]
        if not all(isinstance(sid, str) for sid in ids):
            raise BadRequest("session.expire: session_ids must be strings")
        live = [sid for sid in dict.fromkeys(ids) if sid in self._sessions]
        return self._end_sessions(txn, live, "expired")

    def _end_sessions(self, txn: Txn, session_ids: list[str], reason: str) -> dict[str, Any]:
        """Delete the sessions' ephemerals (their lock entries among them) and the sessions.
        An *expired* holder of a lock acquired with a lock-delay leaves that lock delayed.

        The result and the events name the sessions by public id only: an expiry's result
        and its ``session_closed`` events concern sessions other than the caller's."""
        holders_before: dict[str, str | None] = {}
        deleted: list[str] = []
        public_ids: list[str] = []
        for sid in session_ids:
            public_id = self._sessions.close(txn, sid).public_id
            public_ids.append(public_id)
            for path in self._tree.ephemerals_of(public_id):
                name = locks.lock_name_of(path)
                if name is not None and name not in holders_before:
                    holders_before[name] = locks.holder_id(self._tree, name)
                if reason == "expired":
                    locks.delay_if_held(self._tree, txn, path)
                self._tree.delete(txn, path)
                deleted.append(path)
            txn.events.append(WatchEvent(EventType.SESSION_CLOSED, "", txn.zxid, session_id=public_id, reason=reason))
        return {"sessions": public_ids, "deleted": deleted,
                "lock_grants": locks.grants_after(self._tree, holders_before)}

    # ---- locks --------------------------------------------------------------

    def _lock_acquire(self, txn: Txn, args: dict[str, Any]) -> dict[str, Any]:
        return locks.acquire(self._tree, self._sessions, txn, name=args["name"], session_id=args["session_id"],
                             owner=args["owner"], request_id=args["request_id"],
                             lock_delay_ms=args["lock_delay_ms"])

    def _lock_release(self, txn: Txn, args: dict[str, Any]) -> dict[str, Any]:
        return locks.release(self._tree, self._sessions, txn, name=args["name"], session_id=args["session_id"],
                             lock_id=args["lock_id"])

    # ---- reads --------------------------------------------------------------

    def get(self, path: str) -> tuple[bytes, Stat]:
        node = self._tree.require(validate_path(path))
        return node.data, node.stat()

    def exists(self, path: str) -> Stat | None:
        node = self._tree.node(validate_path(path))
        return node.stat() if node is not None else None

    def children(self, path: str) -> tuple[list[str], Stat]:
        node = self._tree.require(validate_path(path))
        return sorted(node.children), node.stat()

    def session(self, session_id: str) -> dict[str, Any] | None:
        """The open session whose *secret* is ``session_id`` (``BadRequest`` if malformed).

        Its answer holds the secret: for this node's own use and the session's owner only."""
        session = self._sessions.get(validate_session_id(session_id))
        if session is None:
            return None
        return {"session_id": session.session_id, "public_id": session.public_id,
                "client_id": session.client_id, "ttl_ms": session.ttl_ms,
                "ephemerals": self._tree.ephemerals_of(session.public_id)}

    def public_id(self, session_id: str) -> str | None:
        """The public id of the open session whose secret is ``session_id``."""
        session = self._sessions.get(session_id)
        return session.public_id if session is not None else None

    def session_count(self) -> int:
        return len(self._sessions)

    def tallies(self) -> dict[str, int]:
        """Sizes a monitor reports, each O(1): nodes, bytes of their data, ephemeral nodes."""
        tree = self._tree
        return {"znodes": len(tree.nodes), "znode_bytes": tree.data_bytes, "ephemerals": tree.ephemeral_count}

    def sessions(self) -> list[dict[str, Any]]:
        return [self.session(s.session_id) for s in self._sessions.all()]  # type: ignore[misc]

    def session_list(self) -> list[dict[str, Any]]:
        """Every open session as anyone may see it: public id, client id, TTL, its ephemeral
        nodes (lock entries aside) and its lock entries. Never a session's secret."""
        listed = []
        for session in self._sessions.all():
            nodes = self._tree.ephemerals_of(session.public_id)
            listed.append({"public_id": session.public_id, "client_id": session.client_id,
                           "ttl_ms": session.ttl_ms,
                           "ephemerals": [path for path in nodes if locks.lock_name_of(path) is None],
                           "locks": locks.held_by(self._tree, session.public_id)})
        return listed

    def lock_info(self, name: str) -> dict[str, Any]:
        return locks.info(self._tree, name)

    def lock_entries(self, name: str) -> list[str]:
        """Every entry queued on ``name``, lowest first."""
        return locks.contenders(self._tree, name)

    def lock_standing(self, name: str) -> tuple[str | None, dict[str, Any] | None, int]:
        """``locks.standing``: holder entry, pending delay and queue length, each O(1)."""
        return locks.standing(self._tree, name)

    def auth_view(self) -> AuthView:
        """An immutable copy of the users, roles and grants, safe to hand to another thread."""
        return self._auth.view()

    # ---- snapshots ----------------------------------------------------------

    def snapshot(self) -> bytes:
        return snapshot.encode(self._tree, self._sessions, self._auth, self._last_zxid)

    def restore(self, data: bytes) -> None:
        """Replace the whole state with a snapshot's; on bad bytes raise ``BadRequest``, keep the old state."""
        self._tree, self._sessions, self._auth, self._last_zxid = snapshot.decode(data)

    def drop_sessions(self) -> dict[str, Any]:
        """End every session as if it expired at the current zxid, with no new zxid: its
        ephemerals (lock entries among them) are deleted. For a restored backup, whose
        sessions' owners belong to the old cluster: the state stays at the snapshot's index,
        so the new cluster's first entry is still the next zxid. Returns what expiry returns."""
        txn = Txn(self._last_zxid, 0, self._undo)
        result = self._end_sessions(txn, [s.session_id for s in self._sessions.all()], "expired")
        self._undo.commit()
        return result

    def state_hash(self) -> str:
        return sha256(self.snapshot()).hexdigest()
