"""The SkyLock client: the public ``Client``, and its data operations.

A ``Client`` composes one part per job, each in its own module:

- failover.py: the connection to one server at a time, and the retried request
  (the retry rule, at the pace of the client's ``RetryPolicy``, retry.py);
- session.py: the session, its heartbeat thread and its state listeners;
- watches.py: the watches, routed to the event thread and moved with the connection;
- events.py: the event thread, where watch callbacks and state listeners run;
- pipeline.py: the ``*_async`` operations.

This module keeps the data operations (nodes, transactions, locks) and wires the parts.

Thread-safe: any number of threads may share one ``Client``. Watch callbacks and
session state listeners run on the client's one event thread, in order, never on
its I/O thread, so they may call the client (see skylock/client/events.py).
"""

from __future__ import annotations

import os
import time
import uuid
from concurrent.futures import Future
from typing import Any, Callable, Sequence

from skylock.client.connection import CONNECT_TIMEOUT, Connection
from skylock.client.events import EventThread
from skylock.client.failover import IDEMPOTENT, Failover, tied_to_connection
from skylock.client.pipeline import Pipeline
from skylock.client.releases import Release, Unconfirmed
from skylock.client.retry import RetryPolicy
from skylock.client.session import SessionKeeper, SessionState, StateListener
from skylock.client.watches import Event, WatchCallback, WatchHandle, WatchManager
from skylock.errors import ConnectionLost, NoLeader, NoNode, SessionExpired, Timeout
from skylock.client import options
from skylock.security import Credentials

__all__ = ["IDEMPOTENT", "Client", "Event", "SessionState", "StateListener", "WatchCallback", "WatchHandle"]

#: the old private name, for modules written against it
_tied_to_connection = tied_to_connection


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
        retry: RetryPolicy | None = None,
        writes_to_leader: bool = True,
    ) -> None:
        """``servers``: "host:port" addresses, tried in order. ``request_timeout``: seconds
        one call may take in all, failovers included. ``attempt_timeout``: seconds without
        a reply before the server is pinged to tell slow from gone. ``connect_timeout``:
        seconds a request waits for its server to be connected before it goes, unsent,
        to the next one. ``retry``: how every retry loop of the client paces its tries
        (``RetryPolicy``); its ``deadline``, when set, replaces ``request_timeout``.
        ``writes_to_leader``: send writes and lock operations straight to the leader, on a
        second connection, instead of through the server this client talks to (which
        forwards them); see skylock/client/leader_route.py.

        Secure clusters: ``credentials`` (a credentials file or ``Credentials``) gives the
        servers (unless ``servers`` does), each server's CURVE public key and a token;
        ``token`` is sent with every request and wins over the file's. With no
        ``servers`` and no ``credentials``, the environment is read (``from_env``)."""
        endpoints = options.resolve(servers, token, credentials)
        credentials = endpoints.credentials
        self.credentials, self.token, self.servers = credentials, endpoints.token, endpoints.servers
        policy = retry or RetryPolicy()
        self.request_timeout = policy.deadline if policy.deadline is not None else request_timeout
        #: the retry policy of every loop here; its deadline is a call's (``request_timeout``)
        self.retry = policy.replace(deadline=self.request_timeout)
        self.attempt_timeout = attempt_timeout
        self.connect_timeout = connect_timeout
        self._failover = Failover(self.servers, credentials=credentials, token=self.token, retry=self.retry,
                                  attempt_timeout=attempt_timeout, connect_timeout=connect_timeout,
                                  writes_to_leader=writes_to_leader)
        #: where watch callbacks and state listeners run, one at a time, in order
        self.events = EventThread()
        self._session = SessionKeeper(self._failover, self.events)
        self._watches = WatchManager(self._failover, self.events, lambda: self._session.session_id)
        #: (lock name, session id) -> lock id whose release may or may not have applied
        self._unconfirmed_releases: Unconfirmed = {}
        self._pipeline = Pipeline(self._failover, IDEMPOTENT)  # the *_async ops

    @classmethod
    def from_env(cls, **kwargs: Any) -> "Client":
        """A client of the cluster that ``SKYLOCK_CREDENTIALS`` (a credentials file) names,
        with ``SKYLOCK_TOKEN`` as its token if set (else the file's)."""
        return cls(**options.env_kwargs(kwargs))

    # ---- connections and failover (failover.py) ------------------------------------------

    @property
    def server(self) -> str | None:
        """The server this client talks to now."""
        conn = self._failover.current
        return conn.address if conn else None

    def call(self, op: str, **args: Any) -> Any:
        """Send one request, failing over as the retry rule allows; raises typed errors."""
        return self._failover.call(op, args)

    @property
    def _conn(self) -> Connection | None:
        return self._failover.current

    def _connection(self) -> Connection:
        return self._failover.connection()

    def _drop_connection(self, conn: Connection) -> None:
        self._failover.drop(conn)

    def _await(self, conn: Connection, op: str, args: dict[str, Any], deadline: float) -> Any:
        return self._failover.attempt(conn, op, args, deadline)

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
        if tied_to_connection(op, args):
            return _failed(ValueError(f"{op} with a watch has no async form: use the synchronous call"))
        return self._pipeline.submit(op, args, shape)

    # ---- locks ----------------------------------------------------------------------------------

    #: Extra seconds a lock.acquire call waits beyond the lock timeout, for the reply to travel.
    LOCK_REPLY_MARGIN = 5.0

    def lock_acquire(self, name: str, *, owner: str = "", timeout: float = 30.0, request_id: str | None = None,
                     session_id: str | None = None, lock_delay: float = 0.0) -> dict[str, Any]:
        """Queue on the server lock ``name`` and wait until granted; raises ``Timeout`` when
        ``timeout`` seconds pass first (the server then removes the waiter).

        ``lock_delay`` (seconds, at most 60): if this session *expires* while holding the lock,
        the cluster grants it to nobody for that long, so a holder that is only paused or cut
        off stops acting on it before anyone else starts (Chubby's lock-delay). A release or
        ``close()`` hands the lock on at once.

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
        attempts = self.retry.replace(deadline=max(timeout, 0.001)).start()  # the lock's wait is the budget
        lock_deadline = attempts.deadline
        while True:
            remaining = lock_deadline - time.monotonic()
            args = {"name": name, "session_id": session_id, "owner": owner,
                    "timeout_ms": max(1, int(remaining * 1000)), "request_id": request_id}
            if lock_delay > 0:
                args["lock_delay_ms"] = int(lock_delay * 1000)
            conn = self._connection()
            try:
                conn = self._failover.connection_for("lock.acquire", conn)
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
            if not attempts.failed():
                raise Timeout(f"lock {name} not granted within {timeout}s", name=name)
            attempts.pause()

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
        release = Release(self._unconfirmed_releases, name, session_id, lock_id)
        attempts = self.retry.start()
        while True:
            conn = self._connection()
            try:
                conn = self._failover.connection_for("lock.release", conn)
                return release.confirmed(self._await(conn, "lock.release", args, attempts.deadline))
            except NoNode as err:
                return release.entry_gone(err)
            except ConnectionLost as err:
                self._drop_connection(conn)
                release.reply_lost(err)
            except (NoLeader, Timeout):
                release.outcome_unknown()
            if not attempts.failed():
                raise release.unconfirmed()
            attempts.pause()

    def lock_info(self, name: str) -> dict[str, Any]:
        """``{"name", "holder": {entry, owner, session, token} | None, "waiters": [...]}``; ``session``
        is the public id, and ``entry`` is not the lock id (which only the acquirer gets)."""
        return dict(self.call("lock.info", name=name))

    # ---- watches (watches.py) ------------------------------------------------------------------

    def watch(self, path: str, callback: WatchCallback, *, kind: str = "recursive",
              from_zxid: int | None = None) -> WatchHandle:
        """Register a watch; ``recursive`` is persistent, the other kinds fire once.
        Returns a handle whose ``cancel()`` ends it. ``callback(event)`` runs on the
        client's event thread (it may call the client)."""
        return self._watches.watch(path, callback, kind, from_zxid)

    def _watched_read(self, op: str, path: str, kind: str, watch: WatchCallback | None, **args: Any) -> Any:
        if watch is None:
            return self.call(op, path=path, **args)
        return self._watches.watched_read(op, path, kind, watch, args)

    # ---- sessions (session.py) ------------------------------------------------------------------

    @property
    def session_id(self) -> str | None:
        return self._session.session_id

    @property
    def _session_id(self) -> str | None:
        return self._session.session_id

    @property
    def state(self) -> SessionState:
        return self._session.state

    @property
    def _listeners(self) -> list[StateListener]:
        return self._session.listeners

    def add_listener(self, listener: StateListener) -> None:
        """Call ``listener(state)`` on each change of session state, on the event thread
        (in order with the watch callbacks; it may call the client)."""
        self._session.listeners.append(listener)

    def remove_listener(self, listener: StateListener) -> None:
        self._session.remove_listener(listener)

    def start_session(self, client_id: str = "", ttl: float = 10.0) -> str:
        """Open a session and keep it alive with heartbeats every TTL/3 in the background."""
        return self._session.start(client_id, ttl)

    def _require_session(self) -> str:
        return self._session.require()

    def session_heartbeat(self, session_id: str | None = None) -> dict[str, Any]:
        """Keep a session alive once (this client's own session by default)."""
        return self._session.heartbeat(session_id)

    def close(self) -> None:
        """Close the session (its ephemerals go at once) and every connection. The callbacks
        already queued run first; none runs after."""
        self._watches.close()
        self._session.close()
        self.events.close()  # what is queued runs first, while the client still works
        self._failover.close()
        self._pipeline.close()  # after the connection: its failed attempts settle first
        self._failover.terminate()

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
