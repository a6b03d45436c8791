"""Connections and failover: which server a client talks to, and how one request gets
through when servers go away.

The client holds one ``Connection`` at a time, to the next server of its list; a
connection that fails is dropped and the next request opens one to the next server.

Retries follow one rule (skylock/client/retry.py) at the pace of the client's
``RetryPolicy``: a request is sent again only when it cannot have taken effect
(``NoLeader``: the write was never proposed; ``ConnectionLost(sent=False)``: its socket
never reached the server within ``connect_timeout``) or when it has no effect (reads,
heartbeats, status). A request that was never sent goes at once to the next server in
the list, so a dead server costs one ``connect_timeout``. A write whose server went
silent raises ``ConnectionLost`` and a write that was sent but not answered in time
raises ``Timeout``: in both cases the caller decides, because the write may have been
applied. When the deadline passes after servers answered ``NoLeader`` and nothing since
could have applied, the caller gets that ``NoLeader``.

Writes and lock operations go to the leader on a connection of their own, when the
client knows the leader (skylock/client/leader_route.py); everything else, and every write
while the leader is unknown, goes to the current ("home") connection, whose server forwards
writes to the leader.

Threads: any thread may call; a connection's owner (the watch manager) hears of new,
lost and pushed-to connections through a ``ConnectionObserver``. The leader's connection
never carries a watch.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Callable, Protocol

import zmq

from skylock.client import members
from skylock.client.connection import Connection, SyncRequest
from skylock.client.leader_route import LEADER_OPS, LOOKUP_TIMEOUT, LeaderRoute, leader_address
from skylock.client.retry import GIVE_UP, RETRY_NOW, RetryPolicy
from skylock.client.zxid_floor import ZxidFloor
from skylock.errors import ConnectionLost, NoLeader, SkyLockError, Timeout
from skylock.net import codec
from skylock.net.curve import KeyPair
from skylock.security import Credentials

#: Ops that change nothing, so they may be sent again to any server (the op table says which).
IDEMPOTENT = codec.IDEMPOTENT

#: Ops whose effect belongs to the connection that sent them: the server pushes a watch's
#: events to the socket that registered it. Reads with ``watch=True`` register one too.
_WATCH_OPS = frozenset({"watch.add", "watch.remove"})


def tied_to_connection(op: str, args: dict[str, Any]) -> bool:
    return op in _WATCH_OPS or bool(args.get("watch"))


class ConnectionObserver(Protocol):
    """What the owner of a connection's watches is told (skylock/client/watches.py)."""

    def on_connected(self, conn: Connection) -> None:
        """A new connection, before anyone sends on it (under the failover lock)."""

    def on_event(self, conn: Connection, server_watch_id: int, wire: dict[str, Any]) -> None:
        """A pushed watch event, on the connection's I/O thread: must not block."""

    def on_lost(self, conn: Connection) -> None:
        """The current connection's server went away (I/O thread, under the failover lock)."""


class Failover:
    """The client's connections, one at a time, and the retried request."""

    def __init__(self, servers: list[str], *, credentials: Credentials | None, token: str | None,
                 retry: RetryPolicy, attempt_timeout: float, connect_timeout: float,
                 writes_to_leader: bool = True) -> None:
        if credentials is not None and (unknown := [s for s in servers if s not in credentials.server_keys]):
            # never fall back to plaintext (and send the token in clear) for a server without a key
            raise ValueError(f"the credentials have no CURVE public key for server(s) {', '.join(unknown)}")
        self.servers = servers
        self.credentials = credentials
        self.token = token
        self.retry = retry
        self.attempt_timeout = attempt_timeout
        self.connect_timeout = connect_timeout
        #: this client's CURVE key pair in secure mode (made for it; the token says who it is)
        self._keys = KeyPair.generate() if credentials is not None else None
        self._context = zmq.Context()
        self._lock = threading.RLock()
        self._next_server = 0
        #: the connection in use, if any
        self.current: Connection | None = None
        #: after close(): fail fast, e.g. a recipe's watch thread still running
        self.closed = False
        self.observer: ConnectionObserver | None = None
        #: a new connection: look the members up after its first successful call (members.learn)
        self.learn_members = False
        #: the newest state this client has seen, shared by its connections
        self.floor = ZxidFloor()
        #: send writes to the leader (``LEADER_OPS``), on the route's connection
        self.writes_to_leader = writes_to_leader
        self._route: LeaderRoute[Connection] = LeaderRoute()

    # ---- connections --------------------------------------------------------------------

    def connection(self) -> Connection:
        """The current connection, or a new one to the next server."""
        with self._lock:
            if self.closed:
                raise ConnectionLost("this client is closed", sent=False, closed=True)
            if self.current is None:
                address = self.servers[self._next_server % len(self.servers)]
                self._next_server += 1
                self.current = self._open(address)
                self.learn_members = True  # the servers given are a seed
                if self.observer is not None:
                    self.observer.on_connected(self.current)
            return self.current

    @property
    def leader(self) -> Connection | None:
        """The connection writes go to when the leader is known (``current`` when it leads)."""
        return self._route.conn

    def connection_for(self, op: str, home: Connection) -> Connection:
        """Where ``op`` goes: a write to the leader's connection when the leader is known
        (looked up on ``home``, the current connection, first when due), anything else to
        ``home``. Raises ``ConnectionLost(sent=False)`` when that lookup finds the current
        server gone: ``op`` was not sent, so it may go to the next server at once."""
        if op not in LEADER_OPS or not self.writes_to_leader:
            return home
        with self._lock:
            if not self._route.due():
                return self._route.writer(home)
            self._route.begin()
        try:
            keys = self.credentials.server_keys if self.credentials is not None else None
            address = leader_address(home.call("cluster.leader", {}, LOOKUP_TIMEOUT), keys)
        except (SkyLockError, FutureTimeout) as err:
            with self._lock:
                self._route.failed()
                conn = self._route.writer(home)
            if isinstance(err, ConnectionLost):
                raise ConnectionLost(f"{home.address} went away before {op} was sent", sent=False) from None
            return conn
        with self._lock:
            stale = self._route.switch(None if self.closed else address, home, self._open)
            conn = self._route.writer(home)
        if stale is not None:
            stale.close()
        return conn

    def _open(self, address: str) -> Connection:
        return Connection(
            address, self._on_event, on_lost=self._on_lost, context=self._context,
            connect_timeout=self.connect_timeout, keys=self._keys, token=self.token, floor=self.floor,
            server_key=self.credentials.server_keys[address] if self.credentials else None)

    def drop(self, conn: Connection) -> None:
        """Stop using ``conn`` (its server is gone or may be cut off): the next request goes elsewhere."""
        with self._lock:
            self._route.drop(conn, self.current)
            if self.current is conn:
                self.current = None
        conn.close()

    def leader_refused(self, conn: Connection) -> None:
        """``conn`` answered ``NoLeader``: if it was the route to the leader, writes go home until
        the next lookup (the connection stays open as long as it is home)."""
        with self._lock:
            own = self._route.drop(conn, self.current)
        if own:
            conn.close()

    def _on_event(self, conn: Connection, server_watch_id: int, wire: dict[str, Any]) -> None:
        if self.observer is not None:
            self.observer.on_event(conn, server_watch_id, wire)

    def _on_lost(self, conn: Connection) -> None:
        """On the connection's I/O thread, which cannot close its own connection: a thread does."""
        with self._lock:
            if self._route.drop(conn, self.current) and not self.closed:
                threading.Thread(target=conn.close, name="skylock-close", daemon=True).start()
                return
            if self.current is not conn or self.closed:
                return
            self.current = None
            if self.observer is not None:
                self.observer.on_lost(conn)
        threading.Thread(target=conn.close, name="skylock-close", daemon=True).start()

    def close(self) -> None:
        """Close the connection; later requests fail with ``ConnectionLost(closed=True)``."""
        with self._lock:
            self.closed = True
            conn, self.current = self.current, None
            leader = self._route.conn
            self._route.forget()
        if conn is not None:
            conn.close()
        if leader is not None and leader is not conn:
            leader.close()

    def terminate(self) -> None:
        """After ``close`` and once nothing uses a socket any more (the async pipeline closed)."""
        self._context.term()

    # ---- requests ----------------------------------------------------------------------------

    def call(self, op: str, args: dict[str, Any]) -> Any:
        """Send one request, failing over as the retry rule allows; raises typed errors."""
        result = self.failing_over(op, lambda conn, deadline: self.attempt(conn, op, args, deadline))
        members.learn(self)
        return result

    def failing_over(self, op: str, attempt: Callable[[Connection, float], Any]) -> Any:
        """Run ``attempt(connection, deadline)`` until it succeeds or the retry rule says stop."""
        attempts = self.retry.start()
        no_leader: NoLeader | None = None  # the last NoLeader a server answered during this call
        while True:
            conn = self.connection()
            try:
                conn = self.connection_for(op, conn)
                return attempt(conn, attempts.deadline)
            except (NoLeader, ConnectionLost, Timeout) as err:
                if isinstance(err, NoLeader):
                    no_leader = err
                verdict = attempts.after_failure(err, idempotent=op in IDEMPOTENT, closed=self.closed,
                                                 no_leader=no_leader, several_servers=len(self.servers) > 1)
                if verdict.drop_connection:
                    self.drop(conn)
                if verdict.action == GIVE_UP:
                    assert verdict.error is not None
                    raise verdict.error
                if verdict.action == RETRY_NOW:
                    continue  # the next server, at once: this one cost a connect timeout already
            attempts.pause()

    def attempt(self, conn: Connection, op: str, args: dict[str, Any], deadline: float) -> Any:
        """One attempt on ``conn``: ``ConnectionLost(sent=False)`` if the request could not
        be sent, ``ConnectionLost(sent=True)`` if the server went away after it was (it no
        longer answers pings, or the connection dropped), ``Timeout`` if the server still
        answered pings but not this request by ``deadline``."""
        # A plain request is sent and answered on this thread; one that adds or removes a
        # watch goes through the I/O thread's socket, where the server pushes its events.
        pending: SyncRequest | Future[Any]
        if tied_to_connection(op, args):
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
                except NoLeader:
                    self.leader_refused(conn)  # so every retry loop sends its writes home meanwhile
                    raise
                if time.monotonic() >= deadline:
                    self.drop(conn)
                    raise Timeout(f"no reply from {conn.address} to {op} in time; its effect is unknown",
                                  sent=True)
                if not self._alive(conn, pending):
                    self.drop(conn)
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
