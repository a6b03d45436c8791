"""The SkyLock client: typed operations, failover across servers, a session
kept alive in the background, and watches that survive a change of server.

Thread-safe: any number of threads may share one ``Client``.

Retries follow one rule: a request is sent again only when it cannot have taken
effect (``NoLeader``: the write was never proposed; ``ConnectionLost(sent=False)``:
its socket never reached the server within ``connect_timeout``) or when it has no
effect (reads, heartbeats, status). A request that was never sent goes at once to
the next server in the list, so a dead server costs one ``connect_timeout``. A
write whose server went silent raises ``ConnectionLost`` and a write that was sent
but not answered in time raises ``Timeout``: in both cases the caller decides,
because the write may have been applied. When the deadline passes after servers
answered ``NoLeader`` and nothing since could have applied, the caller gets that
``NoLeader``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from enum import Enum
from typing import Any, Callable, Sequence

import zmq

from skylock.client.connection import CONNECT_TIMEOUT, Connection, SyncRequest
from skylock.client import retry
from skylock.client import members
from skylock.client.pipeline import Pipeline
from skylock.errors import ConnectionLost, NoLeader, NoNode, SessionExpired, SkyLockError, Timeout
from skylock.net.curve import KeyPair
from skylock.security import CREDENTIALS_ENV, TOKEN_ENV, Credentials, load_credentials

log = logging.getLogger("skylock.client")

#: Ops that change nothing, so they may be sent again to any server.
IDEMPOTENT = frozenset({
    "ping", "get", "exists", "children", "lock.info", "cluster.status", "cluster.leader",
    "session.heartbeat", "watch.add",
})

#: Ops whose effect belongs to the connection that sent them: the server pushes a watch's
#: events to the socket that registered it. Reads with ``watch=True`` register one too.
_WATCH_OPS = frozenset({"watch.add", "watch.remove"})


def _tied_to_connection(op: str, args: dict[str, Any]) -> bool:
    return op in _WATCH_OPS or bool(args.get("watch"))


class SessionState(str, Enum):
    CONNECTED = "connected"
    SUSPENDED = "suspended"  # no server answered lately; the session may still be alive
    EXPIRED = "expired"  # the cluster ended the session (or its TTL passed unheard)
    CLOSED = "closed"  # closed by this client


@dataclass(frozen=True)
class Event:
    """A watch event: ``type`` is created, deleted, data_changed, children_changed,
    session_closed, or resync (the server lost track: read again and re-watch)."""

    type: str
    path: str
    zxid: int
    child: str | None = None
    session_id: str | None = None

    @classmethod
    def from_wire(cls, wire: dict[str, Any]) -> "Event":
        return cls(str(wire.get("type")), str(wire.get("path", "")), int(wire.get("zxid", 0)),
                   wire.get("child"), wire.get("session_id"))


WatchCallback = Callable[[Event], None]
StateListener = Callable[[SessionState], None]


@dataclass(slots=True)
class _Watch:
    path: str
    kind: str
    callback: WatchCallback
    last_zxid: int
    server_watch_id: int
    connection: Connection | None
    cancelled: bool = False


class WatchHandle:
    """What ``Client.watch`` returns. ``cancel()`` ends the watch here and on the server
    (a recursive watch otherwise lasts, across changes of server, until the client closes)."""

    __slots__ = ("_client", "_watch")

    def __init__(self, client: "Client", watch: _Watch) -> None:
        self._client = client
        self._watch = watch

    @property
    def path(self) -> str:
        return self._watch.path

    @property
    def active(self) -> bool:
        return not self._watch.cancelled

    def cancel(self) -> None:
        """Stop delivering events; idempotent. No callback runs after it returns (one
        already running on another thread may finish)."""
        self._client._cancel_watch(self._watch)


class Client:
    def __init__(
        self,
        servers: str | Sequence[str] | None = None,
        *,
        token: str | None = None,
        credentials: str | os.PathLike[str] | Credentials | None = None,
        request_timeout: float = 10.0,
        attempt_timeout: float = 2.0,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        """``servers``: "host:port" addresses, tried in order. ``request_timeout``: seconds
        one call may take in all, failovers included. ``attempt_timeout``: seconds without
        a reply before the server is pinged to tell slow from gone. ``connect_timeout``:
        seconds a request waits for its server to be connected before it goes, unsent,
        to the next one.

        Secure clusters: ``credentials`` (a credentials file or ``Credentials``) gives the
        servers (unless ``servers`` does), each server's CURVE public key and a token;
        ``token`` is sent with every request and wins over the file's. With no
        ``servers`` and no ``credentials``, the environment is read (``from_env``)."""
        if servers is None and credentials is None:
            credentials = os.environ.get(CREDENTIALS_ENV) or None
            token = token or os.environ.get(TOKEN_ENV) or None
            if credentials is None:
                raise ValueError(f"no servers given and {CREDENTIALS_ENV} is not set")
        if credentials is not None and not isinstance(credentials, Credentials):
            credentials = load_credentials(credentials)
        self.credentials = credentials
        self.token = token or (credentials.token if credentials else None)
        if servers is None and credentials is not None:
            servers = list(credentials.servers)
        if isinstance(servers, str):
            servers = [s.strip() for s in servers.split(",") if s.strip()]
        if not servers:
            raise ValueError("at least one server address (host:port) is needed")
        self.servers = list(servers)
        self.request_timeout = request_timeout
        self.attempt_timeout = attempt_timeout
        self.connect_timeout = connect_timeout
        if credentials is not None and (unknown := [s for s in self.servers if s not in credentials.server_keys]):
            # never fall back to plaintext (and send the token in clear) for a server without a key
            raise ValueError(f"the credentials have no CURVE public key for server(s) {', '.join(unknown)}")
        #: this client's CURVE key pair in secure mode (made for it; the token says who it is)
        self._keys = KeyPair.generate() if credentials is not None else None
        self._context = zmq.Context()
        self._lock = threading.RLock()
        self._next_server = 0
        self._conn: Connection | None = None
        self._watches: dict[tuple[int, int], _Watch] = {}  # (id(connection), server watch id)
        self._early: dict[tuple[int, int], list[Event]] = {}  # events that arrived before their watch's reply
        self._delivery = threading.RLock()  # watch callbacks run one at a time, in arrival order
        self._homeless: list[_Watch] = []  # watches whose server went away, waiting for a new one
        self._mover: threading.Thread | None = None
        self._session_id: str | None = None
        self._session_ttl = 0.0
        self._state = SessionState.CLOSED
        self._listeners: list[StateListener] = []
        self._heartbeats: threading.Thread | None = None
        self._stop = threading.Event()
        self._closed = False  # after close(): fail fast, e.g. a recipe's watch thread still running
        #: (lock name, session id) -> lock id whose release may or may not have applied
        self._unconfirmed_releases: dict[tuple[str, str], str] = {}
        self._pipeline = Pipeline(self, IDEMPOTENT)  # the *_async ops

    @classmethod
    def from_env(cls, **kwargs: Any) -> "Client":
        """A client of the cluster that ``SKYLOCK_CREDENTIALS`` (a credentials file) names,
        with ``SKYLOCK_TOKEN`` as its token if set (else the file's)."""
        path = os.environ.get(CREDENTIALS_ENV)
        if not path:
            raise ValueError(f"{CREDENTIALS_ENV} is not set (start_cluster.py --secure prints it)")
        return cls(credentials=path, token=kwargs.pop("token", None) or os.environ.get(TOKEN_ENV) or None, **kwargs)

    # ---- connections and failover --------------------------------------------------------

    def _connection(self) -> Connection:
        with self._lock:
            if self._closed:
                raise ConnectionLost("this client is closed", sent=False, closed=True)
            if self._conn is None:
                address = self.servers[self._next_server % len(self.servers)]
                self._next_server += 1
                self._conn = Connection(address, self._on_event, on_lost=self._on_connection_lost,
                                        context=self._context, connect_timeout=self.connect_timeout,
                                        server_key=self.credentials.server_keys[address] if self.credentials else None,
                                        keys=self._keys, token=self.token)
                self._rewatch(self._conn)
                self._learn_members = True  # members.learn: the servers given are a seed
            return self._conn

    def _drop_connection(self, conn: Connection) -> None:
        with self._lock:
            if self._conn is conn:
                self._conn = None
        conn.close()

    @property
    def server(self) -> str | None:
        """The server this client talks to now."""
        conn = self._conn
        return conn.address if conn else None

    def call(self, op: str, **args: Any) -> Any:
        """Send one request, failing over as the retry rule allows; raises typed errors."""
        result = self._failing_over(op, lambda conn, deadline: self._await(conn, op, args, deadline))
        members.learn(self)
        return result

    def _failing_over(self, op: str, attempt: Callable[[Connection, float], Any]) -> Any:
        """Run ``attempt(connection, deadline)`` until it succeeds or the retry rule says stop."""
        deadline = time.monotonic() + self.request_timeout
        backoff = 0.02
        no_leader: NoLeader | None = None  # the last NoLeader a server answered during this call
        while True:
            conn = self._connection()
            try:
                return attempt(conn, deadline)
            except (NoLeader, ConnectionLost, Timeout) as err:
                if isinstance(err, NoLeader):
                    no_leader = err
                verdict = retry.after_failure(
                    err, idempotent=op in IDEMPOTENT, closed=self._closed, now=time.monotonic(),
                    deadline=deadline, backoff=backoff, no_leader=no_leader, several_servers=len(self.servers) > 1)
                if verdict.drop_connection:
                    self._drop_connection(conn)
                if verdict.action == retry.GIVE_UP:
                    assert verdict.error is not None
                    raise verdict.error
                if verdict.action == retry.RETRY_NOW:
                    continue  # the next server, at once: this one cost a connect timeout already
            time.sleep(backoff)
            backoff = min(backoff * 2, 0.5)

    def _await(self, conn: Connection, op: str, args: dict[str, Any], deadline: float) -> Any:
        """One attempt on ``conn``: ``ConnectionLost(sent=False)`` if the request could not
        be sent, ``ConnectionLost(sent=True)`` if the server went away after it was (it no
        longer answers pings, or the connection dropped), ``Timeout`` if the server still
        answered pings but not this request by ``deadline``."""
        # A plain request is sent and answered on this thread; one that adds or removes a
        # watch goes through the I/O thread's socket, where the server pushes its events.
        pending: SyncRequest | Future[Any]
        if _tied_to_connection(op, args):
            pending = conn.request(op, args)
        else:
            pending = conn.begin(op, args, min(conn.connect_timeout, max(0.0, deadline - time.monotonic())))
        try:
            while True:
                wait = min(self.attempt_timeout, max(0.0, deadline - time.monotonic()))
                try:
                    return pending.result(timeout=wait)
                except FutureTimeout:
                    pass
                if time.monotonic() >= deadline:
                    self._drop_connection(conn)
                    raise Timeout(f"no reply from {conn.address} to {op} in time; its effect is unknown",
                                  sent=True)
                if not self._alive(conn, pending):
                    self._drop_connection(conn)
                    raise ConnectionLost(f"no reply from {conn.address} to {op}", sent=True)
        finally:
            pending.cancel()

    def _alive(self, conn: Connection, pending: SyncRequest | Future[Any]) -> bool:
        try:
            # a busy server answers a ping late, not never: allow a whole attempt
            if isinstance(pending, SyncRequest):
                pending.ping(self.attempt_timeout)  # on the socket the request waits on
            else:
                conn.call("ping", {}, self.attempt_timeout)
            return True
        except (FutureTimeout, SkyLockError):
            return False

    # ---- data operations ----------------------------------------------------------------------

    def create(
        self, path: str, data: bytes | str = b"", *, ephemeral: bool = False, sequential: bool = False
    ) -> str:
        """Create a node; returns its path (with the sequence suffix when sequential)."""
        session_id = self._require_session() if ephemeral else self._session_id
        result = self.call("create", path=path, data=_bytes(data), ephemeral=ephemeral,
                           sequential=sequential, session_id=session_id)
        return str(result["path"])

    def get(
        self, path: str, *, watch: WatchCallback | None = None, consistency: str = "linearizable"
    ) -> tuple[bytes, dict[str, Any]]:
        result = self._watched_read("get", path, "data", watch, consistency=consistency)
        return result["data"], result["stat"]

    def exists(
        self, path: str, *, watch: WatchCallback | None = None, consistency: str = "linearizable"
    ) -> dict[str, Any] | None:
        return self._watched_read("exists", path, "exists", watch, consistency=consistency)["stat"]

    def children(
        self, path: str, *, watch: WatchCallback | None = None, consistency: str = "linearizable"
    ) -> list[str]:
        return list(self._watched_read("children", path, "children", watch, consistency=consistency)["children"])

    def set(self, path: str, data: bytes | str, *, version: int = -1) -> dict[str, Any]:
        return self.call("set", path=path, data=_bytes(data), version=version)["stat"]

    def delete(self, path: str, *, version: int = -1) -> None:
        self.call("delete", path=path, version=version)

    def multi(self, ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Atomic: ``[{"op": "create"|"set"|"delete"|"check"|"check_lock", ...}]``."""
        return list(self.call("multi", ops=ops)["results"])

    def status(self) -> dict[str, Any]:
        return self.call("cluster.status")

    def leader(self) -> dict[str, Any]:
        return self.call("cluster.leader")

    # ---- pipelined (async) operations --------------------------------------------------------
    #
    # Each returns a ``concurrent.futures.Future`` at once; ``result()`` is what the sync op
    # returns and its exception the same typed error. Many may be in flight on one socket.
    # The future is completed on this client's pipeline thread (see skylock/client/pipeline.py):
    # callbacks added with ``add_done_callback`` run there, so a slow one delays this client's
    # other async results (never its I/O). Failover and deadline (``request_timeout``) follow
    # ``call``'s rule. Reads that set a watch have no async twin: use the sync ``get``,
    # ``exists`` or ``children`` with ``watch=``. Futures cannot be cancelled.

    def call_async(self, op: str, **args: Any) -> "Future[Any]":
        """``call`` without waiting: a future of the raw result. Not for watch ops (use the
        sync calls) nor ops whose reply waits on purpose (``lock.acquire``): the deadline is
        ``request_timeout``."""
        return self._submit(op, args, lambda result: result)

    def create_async(self, path: str, data: bytes | str = b"", *, ephemeral: bool = False,
                     sequential: bool = False) -> "Future[str]":
        """Future of ``create``'s result (the path made)."""
        if ephemeral:
            try:
                session_id: str | None = self._require_session()
            except SessionExpired as err:
                return _failed(err)
        else:
            session_id = self._session_id
        return self._submit("create", {"path": path, "data": _bytes(data), "ephemeral": ephemeral,
                                       "sequential": sequential, "session_id": session_id},
                            lambda result: str(result["path"]))

    def get_async(self, path: str, *, consistency: str = "linearizable") -> "Future[tuple[bytes, dict[str, Any]]]":
        """Future of ``get``'s ``(data, stat)``; no watch (use ``get(watch=...)``)."""
        return self._submit("get", {"path": path, "consistency": consistency},
                            lambda result: (result["data"], result["stat"]))

    def exists_async(self, path: str, *, consistency: str = "linearizable") -> "Future[dict[str, Any] | None]":
        """Future of ``exists``'s stat, or None; no watch (use ``exists(watch=...)``)."""
        return self._submit("exists", {"path": path, "consistency": consistency}, lambda result: result["stat"])

    def children_async(self, path: str, *, consistency: str = "linearizable") -> "Future[list[str]]":
        """Future of ``children``'s names; no watch (use ``children(watch=...)``)."""
        return self._submit("children", {"path": path, "consistency": consistency},
                            lambda result: list(result["children"]))

    def set_async(self, path: str, data: bytes | str, *, version: int = -1) -> "Future[dict[str, Any]]":
        """Future of ``set``'s new stat."""
        return self._submit("set", {"path": path, "data": _bytes(data), "version": version},
                            lambda result: result["stat"])

    def delete_async(self, path: str, *, version: int = -1) -> "Future[None]":
        return self._submit("delete", {"path": path, "version": version}, lambda result: None)

    def multi_async(self, ops: list[dict[str, Any]]) -> "Future[list[dict[str, Any]]]":
        """Future of ``multi``'s per-op results (atomic, like ``multi``)."""
        return self._submit("multi", {"ops": ops}, lambda result: list(result["results"]))

    def _submit(self, op: str, args: dict[str, Any], shape: Callable[[Any], Any]) -> "Future[Any]":
        if _tied_to_connection(op, args):
            return _failed(ValueError(f"{op} with a watch has no async form: use the synchronous call"))
        return self._pipeline.submit(op, args, shape)

    # ---- locks ----------------------------------------------------------------------------------

    #: Extra seconds a lock.acquire call waits beyond the lock timeout, for the reply to travel.
    LOCK_REPLY_MARGIN = 5.0

    def lock_acquire(self, name: str, *, owner: str = "", timeout: float = 30.0, request_id: str | None = None,
                     session_id: str | None = None) -> dict[str, Any]:
        """Queue on the server lock ``name`` and wait until granted; raises ``Timeout`` when
        ``timeout`` seconds pass first (the server then removes the waiter).

        Sent again with the same ``request_id`` after a lost connection or a leader change:
        the server continues the same wait, so nothing is queued twice. Returns
        ``{"name", "lock_id", "token", "owner", "session_id"}``.
        """
        session_id = session_id or self._require_session()
        unconfirmed = self._unconfirmed_releases.get((name, session_id))
        if unconfirmed is not None:
            # That release may still apply: a re-entrant grant of the same entry now would
            # be revoked by it behind our back. Finish it first (raises if still unknown).
            self.lock_release(name, unconfirmed, session_id=session_id)
        request_id = request_id or uuid.uuid4().hex
        lock_deadline = time.monotonic() + timeout
        backoff = 0.02
        while True:
            remaining = lock_deadline - time.monotonic()
            args = {"name": name, "session_id": session_id, "owner": owner,
                    "timeout_ms": max(1, int(remaining * 1000)), "request_id": request_id}
            conn = self._connection()
            try:
                # The server legitimately holds the reply until the grant; liveness while
                # waiting is checked by _await's pings and the connection's drop detection.
                return dict(self._await(conn, "lock.acquire", args,
                                        time.monotonic() + max(remaining, 0.0) + self.LOCK_REPLY_MARGIN))
            except NoLeader:
                pass
            except ConnectionLost:
                self._drop_connection(conn)
            except Timeout:
                # Either the wait ended (near the deadline) or a proposal timed out early,
                # which a retry with the same request id safely continues.
                if lock_deadline - time.monotonic() <= min(1.0, timeout / 4):
                    raise
            if time.monotonic() + backoff >= lock_deadline:
                raise Timeout(f"lock {name} not granted within {timeout}s", name=name)
            time.sleep(backoff)
            backoff = min(backoff * 2, 0.5)

    def lock_release(self, name: str, lock_id: str, *, session_id: str | None = None) -> dict[str, Any]:
        """Release (or leave the queue of) lock ``name``; ``NotOwner`` for another session's entry.

        Retried after a lost reply; a retry that finds the entry gone counts as released.
        If it stays unconfirmed (``ConnectionLost``), the next ``lock_acquire`` of that lock by
        the session first sends this release again, so it can never revoke a later grant.
        """
        session_id = session_id or self._session_id
        if session_id is None:
            raise SessionExpired("releasing a lock needs the owning session id")
        args = {"name": name, "session_id": session_id, "lock_id": lock_id}
        deadline = time.monotonic() + self.request_timeout
        retried = False
        backoff = 0.02
        while True:
            conn = self._connection()
            try:
                result = dict(self._await(conn, "lock.release", args, deadline))
                self._unconfirmed_releases.pop((name, session_id), None)
                return result
            except NoNode:
                self._unconfirmed_releases.pop((name, session_id), None)
                if retried:
                    return {"released": lock_id, "next_holder": None}
                raise
            except ConnectionLost as err:
                self._drop_connection(conn)
                retried = retried or err.details.get("sent") is not False
            except (NoLeader, Timeout):
                retried = True
            if time.monotonic() + backoff >= deadline:
                self._unconfirmed_releases[(name, session_id)] = lock_id
                raise ConnectionLost(f"lock {name}: release of {lock_id} unconfirmed", sent=True)
            time.sleep(backoff)
            backoff = min(backoff * 2, 0.5)

    def lock_info(self, name: str) -> dict[str, Any]:
        """``{"name", "holder": {entry, owner, session, token} | None, "waiters": [...]}``; ``session``
        is the public id, and ``entry`` is not the lock id (which only the acquirer gets)."""
        return dict(self.call("lock.info", name=name))

    # ---- watches ---------------------------------------------------------------------------------

    def watch(self, path: str, callback: WatchCallback, *, kind: str = "recursive",
              from_zxid: int | None = None) -> WatchHandle:
        """Register a watch; ``recursive`` is persistent, the other kinds fire once.
        Returns a handle whose ``cancel()`` ends it."""
        args = {"path": path, "kind": kind, "from_zxid": from_zxid, "session_id": self._session_id}

        def register(conn: Connection, deadline: float) -> _Watch:
            result = self._await(conn, "watch.add", args, deadline)
            start = from_zxid if from_zxid is not None else int(result["zxid"])
            watch = _Watch(path, kind, callback, start, 0, conn)
            self._remember(conn, int(result["watch_id"]), watch)
            return watch

        return WatchHandle(self, self._failing_over("watch.add", register))

    def _cancel_watch(self, watch: _Watch) -> None:
        with self._delivery:  # waits for a callback being delivered; none starts after this
            with self._lock:
                if watch.cancelled:
                    return
                watch.cancelled = True
                registered = [k for k, w in self._watches.items() if w is watch]
                for key in registered:
                    del self._watches[key]
                if watch in self._homeless:
                    self._homeless.remove(watch)
                conn = watch.connection
        if registered and conn is not None:
            self._forget_on_server(conn, watch.server_watch_id)

    @staticmethod
    def _forget_on_server(conn: Connection, server_watch_id: int) -> None:
        """Best effort, not awaited: a server that does not answer drops the watch with the connection."""
        conn.request("watch.remove", {"watch_id": server_watch_id})

    def _watched_read(self, op: str, path: str, kind: str, watch: WatchCallback | None, **args: Any) -> Any:
        if watch is None:
            return self.call(op, path=path, **args)
        wire = {"path": path, "watch": True, "session_id": self._session_id, **args}

        def read_and_watch(conn: Connection, deadline: float) -> Any:
            result = self._await(conn, op, wire, deadline)
            self._remember(conn, int(result["watch_id"]), _Watch(path, kind, watch, int(result["zxid"]), 0, conn))
            return result

        return self._failing_over(op, read_and_watch)

    def _remember(self, conn: Connection, server_watch_id: int, watch: _Watch) -> None:
        """Start routing a registered watch's events, first those that beat its reply here."""
        watch.server_watch_id = server_watch_id
        key = (id(conn), server_watch_id)
        with self._delivery:
            with self._lock:
                early = self._early.pop(key, [])
                if watch.cancelled:  # cancelled while it was being registered again elsewhere
                    self._forget_on_server(conn, server_watch_id)
                    return
                self._watches[key] = watch
            for event in early:
                self._dispatch(key, event)

    def _on_event(self, conn: Connection, server_watch_id: int, wire: dict[str, Any]) -> None:
        event = Event.from_wire(wire)
        key = (id(conn), server_watch_id)
        with self._delivery:
            with self._lock:
                if key not in self._watches:
                    # The server sends a replayed event (from_zxid) right after the reply that
                    # registers the watch, so it can get here first: keep it for _remember.
                    self._early.setdefault(key, []).append(event)
                    while len(self._early) > 64:
                        self._early.pop(next(iter(self._early)))
                    return
            self._dispatch(key, event)

    def _dispatch(self, key: tuple[int, int], event: Event) -> None:
        with self._lock:
            watch = self._watches.get(key)
            if watch is None:
                return
            watch.last_zxid = max(watch.last_zxid, event.zxid)
            if watch.kind != "recursive" or event.type in ("resync", "session_closed"):
                del self._watches[key]
        watch.callback(event)

    def _rewatch(self, conn: Connection) -> None:
        """After a change of server, register every live watch again from the last zxid
        it saw, so events that happened in between are replayed, not lost."""
        with self._lock:
            moved = [w for w in self._watches.values() if w.connection is not conn] + self._homeless
            self._watches = {k: w for k, w in self._watches.items() if w.connection is conn}
            self._homeless = []
        for watch in moved:
            args = {"path": watch.path, "kind": watch.kind, "from_zxid": watch.last_zxid,
                    "session_id": self._session_id}

            def registered(future: Any, watch: _Watch = watch) -> None:
                try:
                    result = future.result()
                except SkyLockError as err:
                    if err.retryable:
                        self._rehome(watch)  # that server is gone or busy too: try the next one
                        return
                    watch.callback(Event("resync", watch.path, watch.last_zxid))
                    log.warning("watch on %s could not resume: %s", watch.path, err)
                    return
                watch.connection = conn
                self._remember(conn, int(result["watch_id"]), watch)

            conn.request("watch.add", args).add_done_callback(registered)

    def _on_connection_lost(self, conn: Connection) -> None:
        """The server went away (called on the connection's I/O thread). Its watches are
        gone with it — a restarted node remembers none — so move them now rather than at
        the next request, which a watch-only client may never make."""
        with self._lock:
            if self._conn is not conn or self._closed:
                return
            self._conn = None
            lost = [w for w in self._watches.values() if w.connection is conn]
            self._watches = {k: w for k, w in self._watches.items() if w.connection is not conn}
        for watch in lost:
            self._rehome(watch)
        threading.Thread(target=conn.close, name="skylock-close", daemon=True).start()

    def _rehome(self, watch: _Watch) -> None:
        with self._lock:
            if self._closed:
                return
            watch.connection = None
            self._homeless.append(watch)
            if self._mover is not None and self._mover.is_alive():
                return
            self._mover = threading.Thread(target=self._move_watches, name="skylock-rewatch", daemon=True)
            self._mover.start()

    def _move_watches(self) -> None:
        """Find a live server for the homeless watches, cycling through the list."""
        backoff = 0.05
        while not self._closed:
            with self._lock:
                if not self._homeless:
                    return
            conn = None
            try:
                conn = self._connection()  # a new connection registers the homeless watches
                self._await(conn, "ping", {}, time.monotonic() + self.attempt_timeout)
                with self._lock:
                    if self._homeless and self._conn is conn:
                        self._rewatch(conn)
            except SkyLockError:
                if conn is not None:
                    self._drop_connection(conn)  # unreachable: the next server on the next turn
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 1.0)

    # ---- sessions ---------------------------------------------------------------------------------

    @property
    def session_id(self) -> str | None:
        return self._session_id

    @property
    def state(self) -> SessionState:
        return self._state

    def add_listener(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    def start_session(self, client_id: str = "", ttl: float = 10.0) -> str:
        """Open a session and keep it alive with heartbeats every TTL/3 in the background."""
        result = self.call("session.open", client_id=client_id, ttl_ms=int(ttl * 1000))
        self._session_id = str(result["session_id"])
        self._session_ttl = int(result["ttl_ms"]) / 1000.0
        self._set_state(SessionState.CONNECTED)
        self._stop.clear()
        self._heartbeats = threading.Thread(target=self._heartbeat_loop, name="skylock-heartbeats", daemon=True)
        self._heartbeats.start()
        return self._session_id

    def _require_session(self) -> str:
        if self._session_id is None or self._state in (SessionState.EXPIRED, SessionState.CLOSED):
            raise SessionExpired("this operation needs a live session: call start_session() first")
        return self._session_id

    def _set_state(self, state: SessionState) -> None:
        if state == self._state:
            return
        self._state = state
        for listener in list(self._listeners):
            try:
                listener(state)
            except Exception:  # noqa: BLE001
                log.exception("session listener failed")

    def _heartbeat_loop(self) -> None:
        interval = self._session_ttl / 3
        last_ok = time.monotonic()
        while not self._stop.wait(interval if self._state == SessionState.CONNECTED else 0.1):
            session_id = self._session_id
            if session_id is None:
                return
            try:
                conn = self._connection()
                sent = time.monotonic()
                # half an interval per try: a paused node must not eat the TTL's margin
                self._await(conn, "session.heartbeat", {"session_id": session_id},
                            sent + min(self.attempt_timeout, interval / 2))
                # the leader restarted the deadline at some point after `sent`: counting the
                # TTL from there, we never think the session alive after the cluster may not
                last_ok = sent
                self._set_state(SessionState.CONNECTED)
            except SessionExpired:
                self._set_state(SessionState.EXPIRED)
                return
            except SkyLockError as err:
                log.info("heartbeat failed (%s); trying the next server", err)
                if self._conn is not None:
                    self._drop_connection(self._conn)
                if time.monotonic() - last_ok >= self._session_ttl:
                    self._set_state(SessionState.EXPIRED)
                    return
                self._set_state(SessionState.SUSPENDED)

    def remove_listener(self, listener: StateListener) -> None:
        try:
            self._listeners.remove(listener)
        except ValueError:
            pass

    def session_heartbeat(self, session_id: str | None = None) -> dict[str, Any]:
        """Keep a session alive once (this client's own session by default)."""
        session_id = session_id or self._session_id
        if session_id is None:
            raise SessionExpired("no session to heartbeat")
        return dict(self.call("session.heartbeat", session_id=session_id) or {})

    def close(self) -> None:
        """Close the session (its ephemerals go at once) and every connection."""
        self._stop.set()
        if self._heartbeats is not None:
            self._heartbeats.join(timeout=5)
        if self._session_id is not None and self._state not in (SessionState.EXPIRED, SessionState.CLOSED):
            try:
                self.call("session.close", session_id=self._session_id)
            except SkyLockError as err:
                log.info("session close failed: %s", err)
            self._set_state(SessionState.CLOSED)
        with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
        self._pipeline.close()  # after the connection: its failed attempts settle first
        self._context.term()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _failed(error: BaseException) -> "Future[Any]":
    future: Future[Any] = Future()
    future.set_exception(error)
    return future


def _bytes(data: bytes | str) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)
