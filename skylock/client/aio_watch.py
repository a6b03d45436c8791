"""Watches of the ``AsyncClient`` as async iterators::

    async for event in client.watch("/services"):
        print(event.type, event.path)

A watch lasts until ``cancel()`` (or the end of an ``async with`` block, or the client's
close); then the iteration ends. It is registered at the first ``await``/``async for``
(``await client.watch(path)`` registers it at once, so events from then on are kept
for the iteration). Events are queued per watch, in the order the server sent them.

Kinds: ``recursive`` (the default) reports every change at or below the path; ``data``,
``exists`` and ``children`` report that node's. The server fires those once, so the
iterator registers them again from the event's zxid: nothing is missed between two.
When the server lost track (a ``resync`` event, or a move to another server whose
history no longer covers the gap) the iterator yields ``resync`` and watches on from
now: read again. After a change of server every watch is registered again from the
last zxid it saw, so the events in between are replayed, not lost. A watch that
cannot be registered again (e.g. ``PermissionDenied``) ends its iteration with that
typed error.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Generator

from skylock.client.watches import Event
from skylock.errors import SkyLockError

if TYPE_CHECKING:
    from skylock.client.aio import AsyncClient
    from skylock.client.aio_connection import AsyncConnection

log = logging.getLogger("skylock.client")

#: Registrations whose events came before their reply, at most (oldest dropped first).
MAX_EARLY = 64


class AsyncWatch:
    """What ``AsyncClient.watch`` returns: an async iterator of ``Event``s (see the module)."""

    def __init__(self, router: "WatchRouter", path: str, kind: str, from_zxid: int | None) -> None:
        self.path = path
        self.kind = kind
        #: the zxid of the last event seen (or where the watch started): where a move resumes
        self.last_zxid = from_zxid or 0
        self.cancelled = False
        self.conn: "AsyncConnection | None" = None
        self.server_watch_id = 0
        self._router = router
        self._from_zxid = from_zxid
        self._started: asyncio.Future[None] | None = None
        self._events: asyncio.Queue[Event | BaseException | None] = asyncio.Queue()

    @property
    def active(self) -> bool:
        return not self.cancelled

    async def start(self) -> "AsyncWatch":
        """Register the watch (once); raises the typed error if the server refuses it."""
        if self._started is None:
            self._started = asyncio.ensure_future(self._router.start(self, self._from_zxid))
        await self._started
        return self

    def __await__(self) -> Generator[Any, None, "AsyncWatch"]:
        return self.start().__await__()

    def __aiter__(self) -> "AsyncWatch":
        return self

    async def __anext__(self) -> Event:
        await self.start()
        item = await self._events.get()
        if item is None or isinstance(item, BaseException):
            self._events.put_nowait(None)  # ended for good: every later call stops too
            if item is not None:
                raise item
            raise StopAsyncIteration
        return item

    async def __aenter__(self) -> "AsyncWatch":
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        self.cancel()

    def cancel(self) -> None:
        """End the watch here and on the server; the iteration stops after the events queued."""
        self._router.cancel(self)

    def _put(self, item: Event | BaseException | None) -> None:
        self._events.put_nowait(item)

    def _end(self, error: BaseException | None = None) -> None:
        """No more events: the iteration stops (with ``error``) after those queued."""
        self.cancelled = True
        self._events.put_nowait(error)


class WatchRouter:
    """The client's watches: registration with failover, event routing, moves after a loss."""

    def __init__(self, client: "AsyncClient") -> None:
        self._client = client
        self._routes: dict[tuple[int, int], AsyncWatch] = {}  # (id(connection), server watch id)
        self._early: dict[tuple[int, int], list[Event]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._live: set[AsyncWatch] = set()  # started and not ended, routed or being registered

    async def start(self, watch: AsyncWatch, from_zxid: int | None) -> None:
        """The first registration; its error is the caller's, and the watch is then not live."""
        self._live.add(watch)
        try:
            await self.register(watch, from_zxid)
        except BaseException:
            self._live.discard(watch)
            raise

    async def register(self, watch: AsyncWatch, from_zxid: int | None) -> None:
        """``watch.add`` on whichever server the client's failover finds; then route its events."""
        args = {"path": watch.path, "kind": watch.kind, "from_zxid": from_zxid,
                "session_id": self._client.session_id}

        async def attempt(conn: "AsyncConnection", deadline: float) -> tuple["AsyncConnection", Any]:
            return conn, await self._client._attempt(conn, "watch.add", args, deadline)

        conn, result = await self._client._failing_over("watch.add", attempt)
        watch.last_zxid = from_zxid if from_zxid is not None else int(result["zxid"])
        self._remember(conn, int(result["watch_id"]), watch)

    def _remember(self, conn: "AsyncConnection", server_watch_id: int, watch: AsyncWatch) -> None:
        key = (id(conn), server_watch_id)
        early = self._early.pop(key, [])
        if watch.cancelled:
            self._forget_on_server(conn, server_watch_id)
            return
        if conn.closed:  # lost while the reply was on its way: the move missed this watch
            self._rearm(watch, watch.last_zxid)
            return
        watch.conn, watch.server_watch_id = conn, server_watch_id
        self._routes[key] = watch
        for event in early:
            self._dispatch(key, event)

    def on_event(self, conn: "AsyncConnection", server_watch_id: int, wire: dict[str, Any]) -> None:
        key = (id(conn), server_watch_id)
        event = Event.from_wire(wire)
        if key not in self._routes:
            # a replayed event (from_zxid) follows the registering reply at once, so it can
            # be read before the registration is remembered: keep it for _remember
            self._early.setdefault(key, []).append(event)
            while len(self._early) > MAX_EARLY:
                self._early.pop(next(iter(self._early)))
            return
        self._dispatch(key, event)

    def _dispatch(self, key: tuple[int, int], event: Event) -> None:
        watch = self._routes[key]
        watch.last_zxid = max(watch.last_zxid, event.zxid)
        watch._put(event)
        if event.type == "session_closed":  # the watch ended with its session
            del self._routes[key]
            self._end(watch)
        elif event.type == "resync":  # the server dropped it: watch on from now
            del self._routes[key]
            self._rearm(watch, None)
        elif watch.kind != "recursive":  # fired once: arm again from this event, missing nothing
            del self._routes[key]
            self._rearm(watch, event.zxid)

    def on_lost(self, conn: "AsyncConnection") -> None:
        """The server went away, and its watches with it: register them elsewhere, now."""
        moved = [key for key, watch in self._routes.items() if watch.conn is conn]
        for key in moved:
            watch = self._routes.pop(key)
            self._rearm(watch, watch.last_zxid)

    def _rearm(self, watch: AsyncWatch, from_zxid: int | None) -> None:
        watch.conn = None
        task = asyncio.get_running_loop().create_task(self._register_again(watch, from_zxid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _register_again(self, watch: AsyncWatch, from_zxid: int | None) -> None:
        """Until it works, the watch is cancelled or the client closed: a history that no longer
        covers ``from_zxid`` means a ``resync`` and a fresh start; any other refusal ends it."""
        backoff = 0.05
        while not watch.cancelled and not self._client.closed:
            try:
                await self.register(watch, from_zxid)
                return
            except SkyLockError as err:
                if not err.retryable:
                    if from_zxid is None:
                        log.warning("watch on %s ended: %s", watch.path, err)
                        self._end(watch, err)
                        return
                    watch._put(Event("resync", watch.path, watch.last_zxid))
                    from_zxid = None
                    continue
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)

    def cancel(self, watch: AsyncWatch) -> None:
        if watch.cancelled:
            return
        for key in [k for k, w in self._routes.items() if w is watch]:
            del self._routes[key]
        if watch.conn is not None:
            self._forget_on_server(watch.conn, watch.server_watch_id)
        self._end(watch)

    def _end(self, watch: AsyncWatch, error: BaseException | None = None) -> None:
        self._live.discard(watch)
        watch._end(error)

    def _forget_on_server(self, conn: "AsyncConnection", server_watch_id: int) -> None:
        """Best effort, not awaited: a server that does not answer drops the watch with the connection."""
        async def remove() -> None:
            try:
                request_id, _reply = await conn.send("watch.remove", {"watch_id": server_watch_id})
                conn.forget(request_id)
            except SkyLockError:
                pass

        if not conn.closed:
            task = asyncio.get_running_loop().create_task(remove())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def close(self) -> None:
        """End every watch's iteration and stop moving any."""
        for watch in list(self._live):
            self._end(watch)
        self._routes.clear()
        for task in list(self._tasks):
            task.cancel()
