"""The gateway: where every client request enters a node and which actor it goes to.

Called with each raw frame on the thread that serves the client socket (the Store's). It parses and
validates the request (bad input is answered here and never reaches the log),
then tells exactly one actor:

- writes become a command in a proposal to RaftNode, answered by the Store when
  the entry is applied on this node (RaftNode's proposal table remembers the client);
- linearizable reads go to RaftNode for a ReadIndex, then to the Store;
- local reads go straight to the Store;
- lock acquires are proposed like writes; the Store answers them (one that must wait, later);
- heartbeats go to the SessionManager; watch removal to the WatchHub;
- cluster status and membership ops (member.*, leader.transfer) to RaftNode;
- a backup (``snapshot.begin``) to RaftNode for a ReadIndex on the leader, then to the
  Store, which holds it for ``snapshot.chunk`` reads (``skylock/actors/exports.py``);
- auth reads are answered here from the auth view the Store publishes (``Access``),
  auth changes are proposed like writes.

In secure mode (``auth.enabled``) ``Access.check`` decides first, on this thread, whether
the request's token may do what it asks: a denied request never reaches an actor.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any, Callable

import pykka

from skylock.actors.members import check_member_args
from skylock.actors.messages import (
    Heartbeat,
    LinearizableRead,
    LocalRead,
    OnResult,
    MemberRequest,
    Query,
    RemoveWatch,
    ReplyTo,
    Propose,
    StatusRequest,
    WaitForLock,
    Waiter,
)
from skylock.actors.gauge import Gauge
from skylock.actors.access import Access, token_sha256
from skylock.actors.lock_waits import acquire_command
from skylock.actors.outbox import Outbox
from skylock.errors import BadPath, BadRequest, LimitExceeded, SkyLockError, TooLarge
from skylock.net import codec
from skylock.state import commands, validate_path
from skylock.state.auth import Principal, make_grant, validate_name
from skylock.state.locks import LOCKS_ROOT, validate_lock_id, validate_lock_name
from skylock.state.sessions import validate_session_id

log = logging.getLogger("skylock.gateway")

#: Random bytes in a new session id: the id is a bearer credential (whoever presents it
#: acts as the session), so it must be unguessable; others only ever see its public id.
SESSION_SECRET_BYTES = 16
#: Random bytes in a token the node generates for ``auth.user_add``.
TOKEN_BYTES = 32
#: Shortest token an administrator may choose for a user (a token is the whole credential).
MIN_TOKEN_LENGTH = 16



class Gateway:
    def __init__(
        self,
        node_id: int,
        *,
        raft: pykka.ActorRef[Any],
        store: pykka.ActorRef[Any],
        sessions: pykka.ActorRef[Any],
        watches: pykka.ActorRef[Any],
        outbox: Outbox,
        max_request_size: int,
        max_data_size: int,
        default_ttl: float,
        min_ttl: float,
        max_ttl: float,
        request_timeout: float,
        max_sessions: int = 100000,
        max_client_id_size: int = 256,
        open_sessions: Gauge | None = None,
        access: Access | None = None,
    ) -> None:
        """``access`` decides who may do what (secure mode; everything is allowed without it);
        ``open_sessions`` is the Store's count, checked against ``max_sessions`` on open."""
        self.node_id = node_id
        self.access = access or Access(enabled=False)
        self.raft, self.store, self.sessions, self.watches = raft, store, sessions, watches
        self.outbox = outbox
        self.max_request_size = max_request_size
        self.max_data_size = max_data_size
        self.default_ttl_ms = int(default_ttl * 1000)
        self.min_ttl_ms = int(min_ttl * 1000)
        self.max_ttl_ms = int(max_ttl * 1000)
        self.request_timeout = request_timeout
        self.max_sessions = max_sessions
        self.max_client_id_size = max_client_id_size
        #: published by the Store as it applies opens and closes
        self.open_sessions = open_sessions if open_sessions is not None else Gauge()
        self._writes: dict[str, Callable[[dict[str, Any], int], dict[str, Any]]] = {
            "create": self._create,
            "set": self._set,
            "delete": self._delete,
            "multi": self._multi,
            "session.open": self._session_open,
            "session.close": self._session_close,
            "lock.release": self._lock_release,
        }
        #: one handler per route of ``codec.OPS`` (auth ops go through ``_auth``, which needs
        #: the caller's principal)
        self._routes: dict[str, Callable[[ReplyTo, str, dict[str, Any]], None]] = {
            "node": self._answer_here, "write": self._write, "read": self._read, "store": self._store_read,
            "leader_read": self._leader_read, "lock": self._lock, "session": self._heartbeat,
            "watch": self._unwatch, "cluster": self._cluster, "member": self._member,
        }
        missing = set(codec.ROUTES) - set(self._routes) - {"auth"}
        assert not missing, f"no handler for route(s) {missing}"
        unwritable = {op for op, spec in codec.OPS.items() if spec.route == "write"} - set(self._writes)
        assert not unwritable, f"no command for write op(s) {unwritable}"

    def on_frame(self, conn_id: bytes, frame: bytes) -> None:
        """Entry point from the I/O thread; never raises."""
        request_id = None
        try:
            request = codec.parse_request(frame, max_size=self.max_request_size)
            request_id = request.id
            reply = ReplyTo(conn_id, request.id, request.op, time.monotonic())
            principal = self.access.check(request.token, request.op, request.args)
            if codec.OPS[request.op].route == "auth":
                self._auth(reply, request.op, request.args, principal)
            else:
                self._route(reply, request.op, request.args)
        except SkyLockError as err:
            if request_id is None:
                request_id = err.details.get("id")
            self.outbox.error(ReplyTo(conn_id, request_id), err)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - a bad frame must never kill the I/O thread
            log.exception("node=%s request failed", self.node_id)
            self.outbox.error(ReplyTo(conn_id, request_id), BadRequest(f"request failed: {exc}"))  # type: ignore[arg-type]

    def _route(self, reply: ReplyTo, op: str, args: dict[str, Any]) -> None:
        """Hand the request to its route's handler (``codec.OPS`` says which)."""
        if args.get("session_id") is not None:
            validate_session_id(args["session_id"])  # a malformed id is answered here, never logged
        self._routes[codec.OPS[op].route](reply, op, args)

    def _answer_here(self, reply: ReplyTo, op: str, args: dict[str, Any]) -> None:
        self.outbox.ok(reply, {"node_id": self.node_id})  # ping

    def _write(self, reply: ReplyTo, op: str, args: dict[str, Any]) -> None:
        self._propose(reply, op, self._writes[op](args, int(time.time() * 1000)))

    def _store_read(self, reply: ReplyTo, op: str, args: dict[str, Any]) -> None:
        self.store.tell(LocalRead(Query(op, args, reply)))

    def _leader_read(self, reply: ReplyTo, op: str, args: dict[str, Any]) -> None:
        self.raft.tell(LinearizableRead(Query(op, args, reply), leader_only=True))

    def _lock(self, reply: ReplyTo, op: str, args: dict[str, Any]) -> None:
        """Proposed like a write; the Store answers it when it applies: a grant at once, or
        later from its lock waits (``skylock/actors/lock_waits.py``)."""
        validate_lock_name(args["name"])  # bad input is answered here, never logged
        now = time.monotonic()
        request = WaitForLock(args["name"], args["session_id"], args["owner"], args["request_id"],
                              args["timeout_ms"], reply, now, args.get("lock_delay_ms", 0))
        self.raft.tell(Propose(acquire_command(request, int(time.time() * 1000)),
                               Waiter(reply, op, lock_request=request), deadline=now + self.request_timeout))

    def _heartbeat(self, reply: ReplyTo, op: str, args: dict[str, Any]) -> None:
        self.sessions.tell(Heartbeat(args["session_id"], reply))

    def _unwatch(self, reply: ReplyTo, op: str, args: dict[str, Any]) -> None:
        self.watches.tell(RemoveWatch(args["watch_id"], reply))

    def _cluster(self, reply: ReplyTo, op: str, args: dict[str, Any]) -> None:
        self.raft.tell(StatusRequest(reply, gather=op == "cluster.status"))

    def _member(self, reply: ReplyTo, op: str, args: dict[str, Any]) -> None:
        self.raft.tell(MemberRequest(op, check_member_args(op, args), reply))

    # ---- writes ---------------------------------------------------------------------

    def _propose(self, reply: ReplyTo, op: str, command: dict[str, Any], on_result: OnResult | None = None) -> None:
        """The Store answers when the entry applies here (RaftNode's proposal table times it out)."""
        self.raft.tell(Propose(command, Waiter(reply, op, on_result), deadline=time.monotonic() + self.request_timeout))

    def _check_data(self, data: bytes) -> bytes:
        if len(data) > self.max_data_size:
            raise TooLarge(f"node data is {len(data)} bytes; the limit is {self.max_data_size}")
        return data

    @staticmethod
    def _writable(path: str) -> str:
        """A plain write under /locks could hand a lock to someone or take it from its
        holder without the owner check; only lock.acquire/lock.release change it."""
        validate_path(path)
        if path == LOCKS_ROOT or path.startswith(LOCKS_ROOT + "/"):
            raise BadPath(f"{path}: {LOCKS_ROOT} is managed by the lock API (lock.acquire, lock.release); "
                          "plain writes there are refused", path=path)
        return path

    def _create(self, args: dict[str, Any], now_ms: int) -> dict[str, Any]:
        self._writable(args["path"])
        return commands.create(
            args["path"], self._check_data(args["data"]), ephemeral=args["ephemeral"],
            sequential=args["sequential"], session_id=args["session_id"], now_ms=now_ms,
        )

    def _set(self, args: dict[str, Any], now_ms: int) -> dict[str, Any]:
        self._writable(args["path"])
        return commands.set_data(args["path"], self._check_data(args["data"]), version=args["version"], now_ms=now_ms)

    def _delete(self, args: dict[str, Any], now_ms: int) -> dict[str, Any]:
        self._deletable(args["path"])
        return commands.delete(args["path"], version=args["version"])

    def _deletable(self, path: str) -> str:
        if path == "/":
            raise BadRequest("the root node cannot be deleted", path=path)
        return self._writable(path)

    def _multi(self, args: dict[str, Any], now_ms: int) -> dict[str, Any]:
        """``codec.parse_request`` already refused unknown ops, unknown keys and bad types
        in every op (so nothing unchecked reaches the log); here only the node's own
        limits remain: writable paths and data size, each failure naming its index."""
        ops = []
        for i, op in enumerate(args["ops"]):
            inner = dict(op)  # the client's op names are the state machine's
            try:
                if inner["op"] == "check":
                    validate_path(inner["path"])
                elif inner["op"] == "check_lock":
                    validate_lock_name(inner["name"])
                    validate_session_id(inner["session_id"])
                elif inner["op"] == "delete":
                    self._deletable(inner["path"])
                else:
                    self._writable(inner["path"])
                if "data" in inner:
                    self._check_data(inner["data"])
            except SkyLockError as err:
                err.details.setdefault("index", i)
                raise
            ops.append(inner)
        return commands.multi(ops, now_ms=now_ms)

    def _session_open(self, args: dict[str, Any], now_ms: int) -> dict[str, Any]:
        self._check_session_limits(args["client_id"])
        ttl_ms = args["ttl_ms"] or self.default_ttl_ms
        ttl_ms = max(self.min_ttl_ms, min(self.max_ttl_ms, ttl_ms))
        return commands.open_session(secrets.token_hex(SESSION_SECRET_BYTES), args["client_id"], ttl_ms, now_ms=now_ms)

    def _check_session_limits(self, client_id: str) -> None:
        """Refused here, before the log: a session is a log entry and a table row on every
        node. The count is this node's applied one, so opens in flight may overshoot it a little."""
        size = len(client_id.encode())
        if size > self.max_client_id_size:
            raise TooLarge(f"client_id is {size} bytes; the limit is {self.max_client_id_size} "
                           "(server.max_client_id_size)", limit="server.max_client_id_size")
        if self.open_sessions.value >= self.max_sessions:
            raise LimitExceeded(f"{self.open_sessions.value} sessions are open, the limit "
                                "(server.max_sessions); close some first", limit="server.max_sessions")

    def _session_close(self, args: dict[str, Any], now_ms: int) -> dict[str, Any]:
        return commands.close_session(args["session_id"])

    def _lock_release(self, args: dict[str, Any], now_ms: int) -> dict[str, Any]:
        validate_lock_name(args["name"])
        validate_lock_id(args["lock_id"])
        return commands.lock_release(args["name"], session_id=args["session_id"], lock_id=args["lock_id"])

    # ---- auth -----------------------------------------------------------------------------

    def _auth(self, reply: ReplyTo, op: str, args: dict[str, Any], principal: Principal | None) -> None:
        """Reads come from the view this node enforces; changes go through the log."""
        view = self.access.view
        if op == "auth.whoami":
            self.outbox.ok(reply, {"auth_enabled": self.access.enabled,
                                   "user": principal.name if principal else None,
                                   "grants": [g.to_wire() for g in principal.grants] if principal else []})
        elif op == "auth.user_list":
            self.outbox.ok(reply, {"users": view.user_list()})
        elif op == "auth.role_list":
            self.outbox.ok(reply, {"roles": view.role_list()})
        elif op == "auth.user_add":
            self._user_add(reply, self._check_auth_args(op, args))
        else:
            self._propose(reply, op, commands.auth(op, **self._check_auth_args(op, args)))

    @staticmethod
    def _check_auth_args(op: str, args: dict[str, Any]) -> dict[str, Any]:
        """Bad names and grants are answered here, never logged (apply checks them again)."""
        validate_name("role" if op.startswith("auth.role_") else "user", args["name"])
        if "role" in args:
            validate_name("role", args["role"])
        if "permission" in args:
            make_grant(args["permission"], args["prefix"])
        return args

    def _user_add(self, reply: ReplyTo, args: dict[str, Any]) -> None:
        """Only the token's hash enters the log; a generated token is in the reply, once."""
        token = args["token"]
        if token is not None and len(token) < MIN_TOKEN_LENGTH:
            raise BadRequest(f"a token must have at least {MIN_TOKEN_LENGTH} characters (leave it out to get one)")
        generated = secrets.token_urlsafe(TOKEN_BYTES) if token is None else None
        digest = token_sha256(token or generated or "")
        if self.access.is_root_hash(digest):
            raise BadRequest("that is the root token; give the user a token of its own")
        answer = {"name": args["name"], **({"token": generated} if generated else {})}

        def on_result(result: Any, error: SkyLockError | None) -> None:
            if error is not None:
                self.outbox.error(reply, error)
            else:
                self.outbox.ok(reply, answer)

        self._propose(reply, "auth.user_add", commands.auth("auth.user_add", name=args["name"], token_sha256=digest),
                      on_result)

    # ---- reads ----------------------------------------------------------------------------

    def _read(self, reply: ReplyTo, op: str, args: dict[str, Any]) -> None:
        query = Query(op, args, reply)
        # A watch registers where the node is now: the reply says at which zxid, and
        # from_zxid covers the rest, so it needs no leader (and must work without one).
        if op == "watch.add" or args.get("consistency", "linearizable") == "local":
            self.store.tell(LocalRead(query))
        elif args.get("consistency", "linearizable") == "linearizable":
            self.raft.tell(LinearizableRead(query))
        else:
            raise BadRequest("consistency must be 'linearizable' or 'local'")
