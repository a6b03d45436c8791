"""``AsyncClient``: the SkyLock client for asyncio programs.

    async with AsyncClient("127.0.0.1:7001,127.0.0.1:7002") as client:
        await client.start_session("my-app", ttl=10)
        await client.create("/app", b"v1")
        data, stat = await client.get("/app")
        async for event in client.watch("/app"):
            ...

The same ops as ``Client``, as coroutines, with the same typed errors
(``skylock.errors``), wire protocol and failover rule (``skylock.client.retry``): a
request is sent again only when it cannot have taken effect (``NoLeader``;
``ConnectionLost(sent=False)``, the server was not reached within
``connect_timeout``, so it goes to the next server at once) or has no effect (reads,
heartbeats, status). Each call has ``request_timeout`` in all; a server that leaves a
request unanswered for ``attempt_timeout`` is pinged, and given up when it does not
answer. Any number of calls may be in flight at once on the one connection
(``asyncio.gather``), their replies matched by id.

One event loop: create, use and close a client on the same loop. Its work (reading
replies, heartbeats, moving watches) is tasks on that loop, so nothing it does needs
a thread, and a coroutine that blocks the loop delays it too.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from typing import Any, Awaitable, Callable, Sequence, TypeVar

import zmq.asyncio

from skylock.client import options, retry
from skylock.client.aio_connection import AsyncConnection
from skylock.client.aio_session import SessionKeeper
from skylock.client.aio_watch import AsyncWatch, WatchRouter
from skylock.client.failover import IDEMPOTENT
from skylock.client.leader_route import LEADER_OPS, LOOKUP_TIMEOUT, LeaderRoute, leader_address
from skylock.client.releases import Release, Unconfirmed
from skylock.client.retry import RetryPolicy
from skylock.client.session import SessionState, StateListener
from skylock.client.zxid_floor import ZxidFloor
from skylock.client.connection import CONNECT_TIMEOUT
from skylock.errors import ConnectionLost, NoLeader, NoNode, SessionExpired, SkyLockError, Timeout
from skylock.net.curve import KeyPair
from skylock.security import Credentials

log = logging.getLogger("skylock.client")

T = TypeVar("T")
Attempt = Callable[[AsyncConnection, float], Awaitable[T]]


class AsyncClient:
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
        """The options of ``Client``: ``servers`` tried in order; ``request_timeout`` seconds per
        call, failovers included; ``attempt_timeout`` seconds without a reply before the server
        is pinged; ``connect_timeout`` seconds for a request to reach its server before it goes,
        unsent, to the next. Secure clusters: ``credentials`` (a file or ``Credentials``: servers,
        their CURVE keys, a token) and ``token``; with neither ``servers`` nor ``credentials`` the
        environment is read (``from_env``). ``retry``: the ``RetryPolicy`` of every retry here (its
        deadline, if set, replaces ``request_timeout``). ``writes_to_leader``: writes and lock
        operations go straight to the leader on a connection of their own (leader_route.py)."""
        endpoints = options.resolve(servers, token, credentials)
        self.servers, self.token, self.credentials = endpoints.servers, endpoints.token, endpoints.credentials
        self._endpoints = endpoints
        policy = retry or RetryPolicy()
        self.request_timeout = policy.deadline if policy.deadline is not None else request_timeout
        #: the retry policy of every loop here; its deadline is a call's (``request_timeout``)
        self.retry = policy.replace(deadline=self.request_timeout)
        self.attempt_timeout = attempt_timeout
        self.connect_timeout = connect_timeout
        self._keys = KeyPair.generate() if endpoints.credentials is not None else None
        self._context = zmq.asyncio.Context()
        self._next_server = 0
        self._conn: AsyncConnection | None = None
        #: the newest state this client has seen, shared by its connections
        self._floor = ZxidFloor()
        self.writes_to_leader = writes_to_leader
        #: where writes go (leader_route.py): ``_conn`` itself when its server leads, else a connection of its own
        self._route: LeaderRoute[AsyncConnection] = LeaderRoute()
        self._closed = False
        self._watches = WatchRouter(self)
        self._session = SessionKeeper(self)
        self._unconfirmed_releases: Unconfirmed = {}

    @classmethod
    def from_env(cls, **kwargs: Any) -> "AsyncClient":
        """A client of the cluster ``SKYLOCK_CREDENTIALS`` names (``SKYLOCK_TOKEN`` as its token if set)."""
        return cls(**options.env_kwargs(kwargs))

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def server(self) -> str | None:
        """The server this client talks to now."""
        return self._conn.address if self._conn is not None else None

    # ---- connections and failover --------------------------------------------------------

    def _connection(self) -> AsyncConnection:
        if self._closed:
            raise ConnectionLost("this client is closed", sent=False, closed=True)
        if self._conn is None:
            address = self.servers[self._next_server % len(self.servers)]
            self._next_server += 1
            self._conn = self._open(address)
        return self._conn

    def _open(self, address: str) -> AsyncConnection:
        return AsyncConnection(address, self._context, self._watches.on_event, self._on_lost,
                               connect_timeout=self.connect_timeout, server_key=self._endpoints.server_key(address),
                               keys=self._keys, token=self.token, floor=self._floor)

    async def _connection_for(self, op: str, home: AsyncConnection) -> AsyncConnection:
        """Where ``op`` goes: a write to the leader's connection when the leader is known (looked
        up on ``home``, the current connection, first when due), anything else to ``home``.
        ``ConnectionLost(sent=False)`` when that lookup finds the current server gone."""
        if op not in LEADER_OPS or not self.writes_to_leader:
            return home
        if not self._route.due():
            return self._route.writer(home)
        self._route.begin()
        try:
            request_id, reply = await home.send("cluster.leader", {}, LOOKUP_TIMEOUT)
            try:
                keys = self.credentials.server_keys if self.credentials is not None else None
                address = leader_address(await asyncio.wait_for(asyncio.shield(reply), LOOKUP_TIMEOUT), keys)
            finally:
                home.forget(request_id)
        except (SkyLockError, TimeoutError) as err:
            self._route.failed()
            if isinstance(err, ConnectionLost):
                raise ConnectionLost(f"{home.address} went away before {op} was sent", sent=False) from None
            return self._route.writer(home)
        stale = self._route.switch(None if self._closed else address, home, self._open)
        if stale is not None:
            stale.close()
        return self._route.writer(home)

    def _leader_refused(self, conn: AsyncConnection) -> None:
        """``conn`` answered ``NoLeader``: if it was the route to the leader, writes go home."""
        if self._route.drop(conn, self._conn):
            conn.close()

    def _drop_connection(self, conn: AsyncConnection) -> None:
        self._route.drop(conn, self._conn)
        if self._conn is conn:
            self._conn = None
        conn.close()

    def _on_lost(self, conn: AsyncConnection) -> None:
        """The server went away: its watches with it, so move them now, not at the next call
        (the leader's own connection carries no watch)."""
        home = conn is self._conn
        self._drop_connection(conn)
        if home and not self._closed:
            self._watches.on_lost(conn)

    async def call(self, op: str, **args: Any) -> Any:
        """Send one request, failing over as the retry rule allows; raises typed errors."""
        return await self._failing_over(op, lambda conn, deadline: self._attempt(conn, op, args, deadline))

    async def _failing_over(self, op: str, attempt: Attempt[T]) -> T:
        """Run ``attempt(connection, deadline)`` until it succeeds or the retry rule says stop."""
        attempts = self.retry.start()  # on time.monotonic, as the loop's clock
        no_leader: NoLeader | None = None  # the last NoLeader a server answered during this call
        while True:
            conn = self._connection()
            try:
                conn = await self._connection_for(op, conn)
                return await attempt(conn, attempts.deadline)
            except (NoLeader, ConnectionLost, Timeout) as err:
                no_leader = err if isinstance(err, NoLeader) else no_leader
                verdict = attempts.after_failure(err, idempotent=op in IDEMPOTENT, closed=self._closed,
                                                 no_leader=no_leader, several_servers=len(self.servers) > 1)
                if verdict.drop_connection:
                    self._drop_connection(conn)
                if verdict.action == retry.GIVE_UP:
                    assert verdict.error is not None
                    raise verdict.error from None
                if verdict.action == retry.RETRY_NOW:
                    continue  # the next server at once: this one cost a connect timeout already
            await asyncio.sleep(attempts.take_delay())

    async def _attempt(self, conn: AsyncConnection, op: str, args: dict[str, Any], deadline: float) -> Any:
        """One attempt on ``conn``: ``ConnectionLost(sent=False)`` if it could not be sent,
        ``ConnectionLost(sent=True)`` if the server went away after (or stopped answering
        pings), ``Timeout`` if it answered pings but not this request by ``deadline``."""
        loop = asyncio.get_running_loop()
        request_id, reply = await conn.send(op, args, min(conn.connect_timeout, max(0.0, deadline - loop.time())))
        try:
            while True:
                try:
                    return await asyncio.wait_for(asyncio.shield(reply),
                                                  min(self.attempt_timeout, max(0.0, deadline - loop.time())))
                except TimeoutError:
                    pass
                except NoLeader:
                    self._leader_refused(conn)  # so every retry loop sends its writes home meanwhile
                    raise
                if loop.time() >= deadline:
                    self._drop_connection(conn)
                    raise Timeout(f"no reply from {conn.address} to {op} in time; its effect is unknown", sent=True)
                if not await conn.alive(self.attempt_timeout):
                    self._drop_connection(conn)
                    raise ConnectionLost(f"no reply from {conn.address} to {op}", sent=True)
        finally:
            conn.forget(request_id)

    # ---- data operations ------------------------------------------------------------------

    async def create(self, path: str, data: bytes | str = b"", *, ephemeral: bool = False,
                     sequential: bool = False) -> str:
        """Create a node; returns its path (with the sequence suffix when sequential)."""
        session_id = self._session.require() if ephemeral else self.session_id
        result = await self.call("create", path=path, data=_bytes(data), ephemeral=ephemeral,
                                 sequential=sequential, session_id=session_id)
        return str(result["path"])

    async def get(self, path: str, *, consistency: str = "linearizable") -> tuple[bytes, dict[str, Any]]:
        result = await self.call("get", path=path, consistency=consistency)
        return result["data"], result["stat"]

    async def exists(self, path: str, *, consistency: str = "linearizable") -> dict[str, Any] | None:
        return (await self.call("exists", path=path, consistency=consistency))["stat"]

    async def children(self, path: str, *, consistency: str = "linearizable") -> list[str]:
        return list((await self.call("children", path=path, consistency=consistency))["children"])

    async def set(self, path: str, data: bytes | str, *, version: int = -1) -> dict[str, Any]:
        return (await self.call("set", path=path, data=_bytes(data), version=version))["stat"]

    async def delete(self, path: str, *, version: int = -1) -> None:
        await self.call("delete", path=path, version=version)

    async def multi(self, ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Atomic: ``[{"op": "create"|"set"|"delete"|"check"|"check_lock", ...}]``."""
        return list((await self.call("multi", ops=ops))["results"])

    async def status(self) -> dict[str, Any]:
        return dict(await self.call("cluster.status"))

    async def leader(self) -> dict[str, Any]:
        return dict(await self.call("cluster.leader"))

    def watch(self, path: str, *, kind: str = "recursive", from_zxid: int | None = None) -> AsyncWatch:
        """Events at (``recursive``: or below) ``path`` as an async iterator; ``await`` it to
        register at once. See ``skylock.client.aio_watch``."""
        return AsyncWatch(self._watches, path, kind, from_zxid)

    # ---- sessions -------------------------------------------------------------------------

    @property
    def session_id(self) -> str | None:
        return self._session.session_id

    @property
    def state(self) -> SessionState:
        return self._session.state

    def add_listener(self, listener: StateListener) -> None:
        """``listener(state)`` on every change of session state, on the loop."""
        self._session.listeners.append(listener)

    def remove_listener(self, listener: StateListener) -> None:
        if listener in self._session.listeners:
            self._session.listeners.remove(listener)

    async def start_session(self, client_id: str = "", ttl: float = 10.0) -> str:
        """Open a session, kept alive by a heartbeat task every TTL/3 until ``close``."""
        return await self._session.start(client_id, ttl)

    async def session_heartbeat(self, session_id: str | None = None) -> dict[str, Any]:
        """Keep a session alive once (this client's own by default)."""
        session_id = session_id or self.session_id
        if session_id is None:
            raise SessionExpired("no session to heartbeat")
        return dict(await self.call("session.heartbeat", session_id=session_id) or {})

    # ---- locks ----------------------------------------------------------------------------

    async def lock_acquire(self, name: str, *, owner: str = "", timeout: float = 30.0, request_id: str | None = None,
                           session_id: str | None = None, lock_delay: float = 0.0) -> dict[str, Any]:
        """Queue on lock ``name`` and wait until granted (``Timeout`` after ``timeout`` seconds:
        the server removes the waiter). Sent again with the same ``request_id`` after a lost
        connection or a leader change, so nothing is queued twice. Returns ``{"name",
        "lock_id", "token", "owner", "session_id"}``, as ``Client.lock_acquire`` (``lock_delay`` too)."""
        session_id = session_id or self._session.require()
        unconfirmed = self._unconfirmed_releases.get((name, session_id))
        if unconfirmed is not None:  # that release may still apply: finish it before a new grant
            await self.lock_release(name, unconfirmed, session_id=session_id)
        request_id = request_id or uuid.uuid4().hex
        loop = asyncio.get_running_loop()
        attempts = self.retry.replace(deadline=max(timeout, 0.001)).start()  # the lock's wait is the budget
        lock_deadline = attempts.deadline
        while True:
            remaining = lock_deadline - loop.time()
            args = {"name": name, "session_id": session_id, "owner": owner,
                    "timeout_ms": max(1, int(remaining * 1000)), "request_id": request_id}
            if lock_delay > 0:
                args["lock_delay_ms"] = int(lock_delay * 1000)
            conn = self._connection()
            try:
                conn = await self._connection_for("lock.acquire", conn)
                # the server holds the reply until the grant; _attempt's pings check the server meanwhile
                return dict(await self._attempt(conn, "lock.acquire", args,
                                                loop.time() + max(remaining, 0.0) + _LOCK_REPLY_MARGIN))
            except NoLeader:
                pass
            except ConnectionLost:
                self._drop_connection(conn)
            except Timeout:
                if lock_deadline - loop.time() <= min(1.0, timeout / 4):
                    raise  # the wait itself ended
            if not attempts.failed():
                raise Timeout(f"lock {name} not granted within {timeout}s", name=name)
            await asyncio.sleep(attempts.take_delay())

    async def lock_release(self, name: str, lock_id: str, *, session_id: str | None = None) -> dict[str, Any]:
        """Release (or leave the queue of) lock ``name``; ``NotOwner`` for another session's
        entry. A retry that finds the entry gone counts as released; a release left unconfirmed
        (``ConnectionLost``) is sent again by the session's next ``lock_acquire`` of that lock."""
        session_id = session_id or self.session_id
        if session_id is None:
            raise SessionExpired("releasing a lock needs the owning session id")
        args = {"name": name, "session_id": session_id, "lock_id": lock_id}
        release = Release(self._unconfirmed_releases, name, session_id, lock_id)
        attempts = self.retry.start()
        while True:
            conn = self._connection()
            try:
                conn = await self._connection_for("lock.release", conn)
                return release.confirmed(await self._attempt(conn, "lock.release", args, attempts.deadline))
            except NoNode as err:
                return release.entry_gone(err)
            except ConnectionLost as err:
                self._drop_connection(conn)
                release.reply_lost(err)
            except (NoLeader, Timeout):
                release.outcome_unknown()
            if not attempts.failed():
                raise release.unconfirmed()
            await asyncio.sleep(attempts.take_delay())

    async def lock_info(self, name: str) -> dict[str, Any]:
        """``{"name", "holder": {entry, owner, session, token} | None, "waiters": [...]}``."""
        return dict(await self.call("lock.info", name=name))

    # ---- closing --------------------------------------------------------------------------

    async def close(self) -> None:
        """Close the session (its ephemerals go at once), end every watch, close the connection."""
        if self._closed:
            return
        await self._session.close()
        self._closed = True
        self._watches.close()
        if self._route.conn is not None:
            self._drop_connection(self._route.conn)
        if self._conn is not None:
            self._drop_connection(self._conn)
        self._context.destroy(linger=0)


#: Extra seconds a lock.acquire waits beyond the lock timeout, for the reply to travel.
_LOCK_REPLY_MARGIN = 5.0


def _bytes(data: bytes | str) -> bytes:
    return data.encode() if isinstance(data, str) else bytes(data)
