"""The HTTP gateway's link to its own node: a ZeroMQ client, awaitable from asyncio.

The REST API must not be a second implementation of anything, so every HTTP
request becomes an ordinary client request on one ``Connection`` to the node's
own client address, exactly as a remote SDK would send it. This module bridges
the connection's ``concurrent.futures`` to the gateway's event loop and routes
the watch events the node pushes on that connection to the HTTP request that
is waiting for them.

The connection's failover rules hold here too: a request the link cannot get to
the node (not reachable within the connect timeout) fails at once as never sent,
``ConnectionLost(sent=False)``, which the REST API answers 503, instead of being
queued until the HTTP request's own timeout.

Each request carries the token of the HTTP request it serves (``Authorization:
Bearer``), so the node authenticates the HTTP caller, never the link itself; in
secure mode the link is a CURVE client of the node's key (``server_key``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future
from typing import Any

import zmq

from skylock.client.connection import CONNECT_TIMEOUT, Connection
from skylock.errors import Timeout

log = logging.getLogger("skylock.http")

#: After a watch's first event, keep collecting while more arrive this close together, so
#: the several events of one zxid (a multi, a session expiry) are returned together.
EVENT_BATCH_QUIET = 0.05
EVENT_BATCH_MAX = 0.5


class NodeLink:
    """One connection to the node; ``call`` and ``wait_events`` run on the gateway's loop."""

    def __init__(self, address: str, loop: asyncio.AbstractEventLoop, *, context: zmq.Context,
                 connect_timeout: float = CONNECT_TIMEOUT, server_key: bytes | None = None) -> None:
        self.address = address
        self._loop = loop
        # Reentrant: a watch.add reply already received runs its callback on the registering thread.
        self._lock = threading.RLock()
        #: None in a mailbox ends the wait early (the gateway is stopping)
        self._mailboxes: dict[int, asyncio.Queue[dict[str, Any] | None]] = {}
        self._ending = False
        self._conn = Connection(address, self._on_event, context=context, connect_timeout=connect_timeout,
                                server_key=server_key)

    def close(self) -> None:
        self._conn.close()

    @property
    def waiting_watches(self) -> int:
        """Watches an HTTP request is waiting on now."""
        with self._lock:
            return len(self._mailboxes)

    async def call(self, op: str, args: dict[str, Any], *, timeout: float, token: str | None = None) -> Any:
        """Send one request and await its result; raises the node's typed error.

        ``timeout`` only guards against a node that never answers (it answers
        ``Timeout`` itself first), so it should exceed the op's own wait.
        """
        return await self._await(self._conn.request(op, args, token=token), op, timeout)

    async def _await(self, future: Future[Any], op: str, timeout: float) -> Any:
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future, loop=self._loop), timeout)
        except asyncio.TimeoutError:
            raise Timeout(f"the node did not answer {op} within {timeout:g}s") from None

    async def wait_events(
        self, path: str, kind: str, from_zxid: int | None, *, timeout: float, call_timeout: float,
        token: str | None = None,
    ) -> tuple[list[dict[str, Any]], int]:
        """Watch ``path`` until its first event(s) or ``timeout``; returns (events, zxid).

        ``zxid`` is where the watch started (``from_zxid``, else the node's applied
        zxid at registration), so a caller that got no event resumes from there and
        misses nothing. The watch is removed before returning.
        """
        args = {"path": path, "kind": kind, "from_zxid": from_zxid, "session_id": None}
        with self._lock:
            future = self._conn.request("watch.add", args, token=token)
            future.add_done_callback(self._open_mailbox)
        registered = await self._await(future, "watch.add", call_timeout)
        watch_id = int(registered["watch_id"])
        start = from_zxid if from_zxid is not None else int(registered["zxid"])
        with self._lock:
            mailbox = self._mailboxes[watch_id]
            if self._ending:
                mailbox.put_nowait(None)
        try:
            try:
                first = await asyncio.wait_for(mailbox.get(), timeout)
            except asyncio.TimeoutError:
                return [], start
            if first is None:
                return [], start
            return await self._batch(first, mailbox), start
        finally:
            self._close_mailbox(watch_id, token)

    async def _batch(
        self, first: dict[str, Any], mailbox: asyncio.Queue[dict[str, Any] | None]
    ) -> list[dict[str, Any]]:
        events = [first]
        deadline = self._loop.time() + EVENT_BATCH_MAX
        while (left := deadline - self._loop.time()) > 0:
            try:
                event = await asyncio.wait_for(mailbox.get(), min(EVENT_BATCH_QUIET, left))
            except asyncio.TimeoutError:
                break
            if event is None:
                break
            events.append(event)
        return events

    def end_waits(self) -> None:
        """On the loop: every watch waiting now or later returns at once with what it has."""
        with self._lock:
            self._ending = True
            mailboxes = list(self._mailboxes.values())
        for mailbox in mailboxes:
            mailbox.put_nowait(None)

    # ---- watch mailboxes (called on the connection's I/O thread, or inline) ----------------

    def _open_mailbox(self, future: Future[Any]) -> None:
        """Runs as the watch.add reply arrives, before any event of that watch is read,
        because the node sends the reply first on the same connection."""
        if future.cancelled() or future.exception() is not None:
            return
        with self._lock:
            self._mailboxes[int(future.result()["watch_id"])] = asyncio.Queue()

    def _close_mailbox(self, watch_id: int, token: str | None) -> None:
        """Forget the mailbox and remove the watch without waiting for the answer: a
        one-shot watch that fired is gone already, and a cancelled request cannot wait."""
        with self._lock:
            self._mailboxes.pop(watch_id, None)
        self._conn.request("watch.remove", {"watch_id": watch_id}, token=token)

    def _on_event(self, _conn: Connection, watch_id: int, event: dict[str, Any]) -> None:
        with self._lock:
            mailbox = self._mailboxes.get(watch_id)
        if mailbox is None:
            log.debug("dropped an event for watch %s that nobody waits for", watch_id)
            return
        self._loop.call_soon_threadsafe(mailbox.put_nowait, event)


__all__ = ["NodeLink"]
